/**
 * `npm run bench:wait`: what FERRY_REDIS_WAIT_REPLICAS=1 costs ingest (issue 15), on one
 * topology (a primary, its replica and three sentinels from test/support/redis-sentinel.ts, AOF
 * everysec) in one run, settings alternated so the machine's load falls on both alike:
 *
 *   1. Through the API: a `ferry api` process (Postgres store, Redis through the sentinels)
 *      started with WAIT 0, then 1, BENCH_ROUNDS times; BENCH_SENDERS concurrent senders each
 *      POST /ingest of 10 postbacks, one at a time, for BENCH_SECONDS. Postbacks/s acknowledged
 *      and the request latency's p50/p99.
 *   2. The queue alone (src/queue/redis.ts in this process): BENCH_SENDERS concurrent enqueue
 *      loops with WAIT off, WAIT 1 shared by the enqueues answered meanwhile (what Ferry does),
 *      and WAIT 1 sent after each enqueue: whether coalescing pays.
 *
 *   BENCH_SECONDS=5 BENCH_SENDERS=16 BENCH_ROUNDS=2 npm run bench:wait
 */
import { cpus, loadavg } from "node:os";
import { startRedisSentinels, type RedisSentinels } from "../test/support/redis-sentinel.js";
import { createDatabase } from "../test/support/postgres.js";
import { killAll, startServer } from "../test/support/processes.js";
import { tempDir } from "../test/support/harness.js";
import { sentinelEnv } from "../test/support/redis-failover-run.js";
import { RedisQueue } from "../src/queue/redis.js";
import { endpointId, newPostbackId } from "../src/core/ids.js";
import type { Endpoint } from "../src/core/types.js";

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 5);
const SENDERS = Number(process.env["BENCH_SENDERS"] ?? 16);
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 2);
const PER_REQUEST = 10;
const TOKEN = "bench-wait-admin-token-0123456789";
const DATA = { mascot: "Gopher", location: "https://blog.golang.org/gopher/gopher.png" };
const DATA_JSON = JSON.stringify(DATA);

interface Figures {
  label: string;
  postbacksPerSecond: number;
  p50: number;
  p99: number;
  failed: number;
}

function summarize(label: string, latencies: number[], ok: number, failed: number, seconds: number): Figures {
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { label, postbacksPerSecond: Math.round((ok * PER_REQUEST) / seconds), p50: at(0.5), p99: at(0.99), failed };
}

/** `senders` loops calling `once` for `seconds`; latency of each call in ms. */
async function drive(label: string, once: () => Promise<boolean>): Promise<Figures> {
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  const end = Date.now() + SECONDS * 1000;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: SENDERS }, async () => {
      while (Date.now() < end) {
        const start = performance.now();
        if (await once()) {
          latencies.push(performance.now() - start);
          ok++;
        } else failed++;
      }
    }),
  );
  return summarize(label, latencies, ok, failed, (Date.now() - t0) / 1000);
}

async function throughApi(sentinels: RedisSentinels, databaseUrl: string, wait: number, round: number): Promise<Figures> {
  const api = await startServer("api", {
    ...sentinelEnv(sentinels),
    FERRY_REDIS_PREFIX: `bw${wait}r${round}`,
    FERRY_REDIS_WAIT_REPLICAS: String(wait),
    FERRY_DATABASE_URL: databaseUrl,
    FERRY_MIGRATE_ON_START: "true",
    FERRY_ADMIN_TOKEN: TOKEN,
    FERRY_DATA_DIR: tempDir().path,
    FERRY_LOG_LEVEL: "warn",
  });
  const body = JSON.stringify({ endpoint: { method: "GET", url: "http://127.0.0.1:9/hit?m={mascot}" }, data: Array.from({ length: PER_REQUEST }, () => DATA) });
  const send = async () => {
    const res = await fetch(`${api.url}/ingest`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` }, body });
    await res.arrayBuffer();
    return res.status === 202;
  };
  try {
    for (let i = 0; i < 50; i++) await send(); // warm up: JIT, connections, the endpoint sent once
    return await drive(`api, WAIT ${wait}`, send);
  } finally {
    await api.stop();
  }
}

async function queueAlone(sentinels: RedisSentinels, mode: "off" | "shared" | "each"): Promise<Figures> {
  const target = { url: sentinels.url, sentinels: sentinels.sentinels.split(",").map((s) => ({ host: "127.0.0.1", port: Number(s.split(":")[1]) })), masterName: sentinels.masterName };
  const queue = await RedisQueue.connect(target, { prefix: `bq-${mode}`, waitReplicas: mode === "off" ? 0 : 1, waitEach: mode === "each" });
  const url = "http://127.0.0.1:9/hit";
  const endpoint: Endpoint = { id: endpointId({ method: "GET", url, defaultValue: "", maxAttempts: 12 }), method: "GET", url, defaultValue: "", maxAttempts: 12 };
  const send = async () => {
    await queue.enqueue({ endpoint, postbacks: Array.from({ length: PER_REQUEST }, () => ({ id: newPostbackId(), data: DATA_JSON })), createdAt: Date.now() });
    return true;
  };
  try {
    return await drive(`queue alone, WAIT ${mode === "off" ? "0" : mode === "shared" ? "1 shared (Ferry)" : "1 after each enqueue"}`, send);
  } finally {
    await queue.close();
  }
}

const [sentinels, database] = await Promise.all([startRedisSentinels(), createDatabase("ferry_bench_wait")]);
const results: Figures[] = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const wait of [0, 1]) results.push(await throughApi(sentinels, database.url, wait, round));
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of ["off", "shared", "each"] as const) results.push(await queueAlone(sentinels, mode));
  }
} finally {
  await killAll();
  await sentinels.close();
  await database.drop();
}
console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
console.log(`${SENDERS} concurrent senders, ${PER_REQUEST} postbacks per request, ${SECONDS} s per measurement, ${ROUNDS} rounds alternated`);
console.log("| what | postbacks/s acknowledged | p50 ms | p99 ms | failed |");
console.log("|---|---|---|---|---|");
for (const f of results) console.log(`| ${f.label} | ${f.postbacksPerSecond} | ${f.p50.toFixed(1)} | ${f.p99.toFixed(1)} | ${f.failed} |`);
// The machine is shared: the median of the rounds of each setting is the figure to quote.
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
console.log("\nmedian of the rounds:");
console.log("| what | postbacks/s acknowledged | p50 ms | p99 ms |");
console.log("|---|---|---|---|");
for (const label of [...new Set(results.map((f) => f.label))]) {
  const of = results.filter((f) => f.label === label);
  console.log(`| ${label} | ${median(of.map((f) => f.postbacksPerSecond))} | ${median(of.map((f) => f.p50)).toFixed(1)} | ${median(of.map((f) => f.p99)).toFixed(1)} |`);
}
