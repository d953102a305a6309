/**
 * `npm run bench`: seed-shaped load through Ferry's embedded default, against a direct baseline
 * measured in the same run. Three processes: this load generator, `ferry start`, and a receiver.
 *
 *   BENCH_REQUESTS=2000 BENCH_CONCURRENCY=16 npm run bench
 *
 * Reports postbacks/s end to end (first ingest sent → last postback received), ingest latency
 * p50/p99, and the direct baseline: the same postbacks sent straight to the same receiver with
 * undici at the same number of connections. Writes bench/results/latest.json.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";

const REQUESTS = Number(process.env["BENCH_REQUESTS"] ?? 2000);
const PER_REQUEST = 10;
const CONCURRENCY = Number(process.env["BENCH_CONCURRENCY"] ?? 16);
const CONNECTIONS = 32; // Ferry's default FERRY_ORIGIN_CONCURRENCY, used for the baseline too
const TOKEN = "bench-admin-token-0123456789";
const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const TOTAL = REQUESTS * PER_REQUEST;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Starts the receiver in its own process; it prints a line per 1000 requests it gets. */
async function startReceiver(port: number): Promise<{ child: ChildProcess; waitFor(n: number): Promise<number> }> {
  const child = spawn(process.execPath, ["--input-type=module", "-e", `
    import { createServer } from "node:http";
    let n = 0;
    createServer((req, res) => { req.resume(); req.on("end", () => { res.end("ok"); if (++n % 1000 === 0) process.stdout.write(n + " " + Date.now() + "\\n"); }); })
      .listen(${port}, "127.0.0.1", () => process.stdout.write("ready\\n"));`], { stdio: ["ignore", "pipe", "inherit"] });
  const seen: Array<[number, number]> = [];
  const waiters: Array<{ n: number; resolve: (at: number) => void }> = [];
  let buf = "";
  let ready: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  child.stdout!.on("data", (chunk: Buffer) => {
    buf += chunk.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line === "ready") ready();
      else {
        const [n, at] = line.split(" ").map(Number) as [number, number];
        seen.push([n, at]);
        for (const w of waiters.slice()) if (n >= w.n) (waiters.splice(waiters.indexOf(w), 1), w.resolve(at));
      }
    }
  });
  await isReady;
  return {
    child,
    waitFor: (n) => {
      const hit = seen.find(([count]) => count >= n);
      return hit ? Promise.resolve(hit[1]) : new Promise((resolve) => waiters.push({ n, resolve }));
    },
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function progress(label: string, done: number, total: number): void {
  if (!process.stderr.isTTY) return;
  const width = 30;
  const filled = Math.round((done / total) * width);
  process.stderr.write(`\r${label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${done}/${total}`);
  if (done === total) process.stderr.write("\n");
}

async function runLoad(total: number, concurrency: number, one: (i: number) => Promise<void>, label: string): Promise<void> {
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        await one(i);
        progress(label, ++done, total);
      }
    }),
  );
}

async function direct(receiverPort: number): Promise<number> {
  const receiver = await startReceiver(receiverPort);
  const agent = new Agent({ connections: CONNECTIONS });
  const t0 = Date.now();
  await runLoad(TOTAL, CONNECTIONS, async (i) => {
    const res = await request(`http://127.0.0.1:${receiverPort}/data?title=Gopher&i=${i}`, { dispatcher: agent });
    await res.body.dump();
  }, "direct  ");
  const ms = Date.now() - t0;
  await agent.close();
  receiver.child.kill();
  return (TOTAL / ms) * 1000;
}

async function ferry(receiverPort: number): Promise<{ rate: number; p50: number; p99: number }> {
  const receiver = await startReceiver(receiverPort);
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "ferry-bench-"));
  // BENCH_FERRY_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the Ferry process.
  const nodeArgs = (process.env["BENCH_FERRY_NODE_ARGS"] ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, CLI, "start"], {
    env: { ...process.env, FERRY_PORT: String(port), FERRY_HOST: "127.0.0.1", FERRY_DATA_DIR: dataDir, FERRY_ADMIN_TOKEN: TOKEN, FERRY_LOG_LEVEL: "warn" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (;;) {
    try {
      const res = await request(`http://127.0.0.1:${port}/healthz`);
      await res.body.dump();
      if (res.statusCode === 200) break;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  const agent = new Agent({ connections: CONCURRENCY });
  const latencies: number[] = [];
  const body = (i: number) => JSON.stringify({
    endpoint: { method: "GET", url: `http://127.0.0.1:${receiverPort}/data?title={mascot}&image={location}&foo={bar}&i={i}` },
    data: Array.from({ length: PER_REQUEST }, (_, k) => ({ mascot: "Gopher", location: "https://blog.golang.org/gopher/gopher.png", i: i * PER_REQUEST + k })),
  });
  const t0 = Date.now();
  await runLoad(REQUESTS, CONCURRENCY, async (i) => {
    const s = performance.now();
    const res = await request(`http://127.0.0.1:${port}/ingest`, {
      method: "POST", dispatcher: agent, body: body(i),
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    });
    await res.body.dump();
    if (res.statusCode !== 202) throw new Error(`ingest answered ${res.statusCode}`);
    latencies.push(performance.now() - s);
  }, "ferry   ");
  const last = await receiver.waitFor(TOTAL);
  const rate = (TOTAL / (last - t0)) * 1000;
  await agent.close();
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
  receiver.child.kill();
  rmSync(dataDir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  return { rate, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

const receiverPort = await freePort();
const base = await direct(receiverPort);
const f = await ferry(await freePort());
const machine = `${cpus()[0]?.model ?? "cpu"}, ${cpus().length} cores, Node ${process.version}`;
const result = {
  machine,
  config: { requests: REQUESTS, data_objects_per_request: PER_REQUEST, ingest_concurrency: CONCURRENCY, connections: CONNECTIONS, backend: "sqlite" },
  direct_postbacks_per_s: Math.round(base),
  ferry_postbacks_per_s: Math.round(f.rate),
  ratio: Math.round((f.rate / base) * 100) / 100,
  ingest_latency_ms: { p50: Math.round(f.p50 * 100) / 100, p99: Math.round(f.p99 * 100) / 100, samples: REQUESTS },
};
const outDir = fileURLToPath(new URL("../../bench/results/", import.meta.url));
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, "latest.json"), JSON.stringify(result, null, 2) + "\n");
console.log(`
| machine | ${machine} |
|---|---|
| load | ${REQUESTS} ingest requests × ${PER_REQUEST} data objects, ${CONCURRENCY} concurrent; ${TOTAL} postbacks |
| direct baseline (undici → receiver, ${CONNECTIONS} connections) | ${result.direct_postbacks_per_s} postbacks/s |
| Ferry embedded (SQLite), end to end | ${result.ferry_postbacks_per_s} postbacks/s |
| Ferry / direct | ${result.ratio} |
| ingest latency p50 / p99 (${REQUESTS} samples) | ${result.ingest_latency_ms.p50} ms / ${result.ingest_latency_ms.p99} ms |
`);
process.exit(0);
