/**
 * docs/seeds.md, run as written: each `## Seed NNN` section's ```env block (the FERRY_* settings
 * that seed needs) starts a real `ferry start`, and its ```sh blocks (the seed README's own
 * commands, adapted to Ferry) run in order in one bash, against a real receiving HTTP server.
 * The commands use `$FERRY` (Ferry's base URL), `$ADMIN_TOKEN`, `$RECEIVER` and the env block's
 * variables; blocks share shell variables. A test asserts on what each block printed and on what
 * the receiver got, so the walk-through a reader follows is the one that is tested.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { repoPath } from "./paths.js";
import { tempDir, ADMIN_TOKEN } from "./harness.js";
import { startServer, type ServerProcess } from "./processes.js";

export interface Walkthrough {
  /** The section's settings, from its ```env blocks. */
  env: Record<string, string>;
  /** Its ```sh blocks, in order. */
  blocks: string[];
}

/** The docs/seeds.md section whose `## ` heading contains `heading`. */
export function readWalkthrough(heading: string, file = repoPath("docs", "seeds.md")): Walkthrough {
  const lines = readFileSync(file, "utf8").split("\n");
  const start = lines.findIndex((l) => l.startsWith("## ") && l.includes(heading));
  if (start < 0) throw new Error(`${file} has no "## ...${heading}..." section`);
  let end = lines.findIndex((l, i) => i > start && l.startsWith("## "));
  if (end < 0) end = lines.length;
  const env: Record<string, string> = {};
  const blocks: string[] = [];
  let fence: { kind: string; body: string[] } | undefined;
  for (const line of lines.slice(start + 1, end)) {
    const open = /^```(\w*)/.exec(line);
    if (!fence && open) {
      fence = { kind: open[1] ?? "", body: [] };
    } else if (fence && line.startsWith("```")) {
      if (fence.kind === "env") {
        for (const l of fence.body) {
          const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(l.trim());
          if (m) env[m[1]!] = m[2]!;
        }
      } else if (fence.kind === "sh" || fence.kind === "bash") {
        blocks.push(fence.body.join("\n"));
      }
      fence = undefined;
    } else if (fence) {
      fence.body.push(line);
    }
  }
  if (blocks.length === 0) throw new Error(`section "${heading}" of ${file} has no sh block`);
  return { env, blocks };
}

export interface ReceivedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** A real HTTP receiver: 200 for any path, 500 under /fail, 200 after 15 s under /slow. */
export async function startReceiver(): Promise<{ url: string; received: ReceivedRequest[]; close(): Promise<void> }> {
  const received: ReceivedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), at: Date.now() });
      const path = req.url ?? "/";
      if (path.startsWith("/fail")) {
        res.writeHead(500, { "content-type": "text/plain" }).end("failing on purpose");
      } else if (path.startsWith("/slow")) {
        setTimeout(() => res.writeHead(200).end("ok, late"), 15_000).unref();
      } else {
        res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface WalkthroughRun {
  /** What each sh block printed on stdout. */
  outputs: string[];
  /** Every request the receiver got so far (it keeps filling while Ferry delivers). */
  received: ReceivedRequest[];
  ferry: ServerProcess;
  receiver: string;
  /** Stops Ferry and the receiver and removes the data dir. */
  stop(): Promise<void>;
}

const MARK = "@@ferry-walkthrough-block@@";

/**
 * Starts Ferry with the section's env (plus `extraEnv`: a backend, say) on a new data dir, runs
 * the section's sh blocks in one bash with `set -euo pipefail`, and returns what they printed.
 * A failing command rejects with the block, its output and stderr.
 */
export async function runWalkthrough(heading: string, options: { extraEnv?: Record<string, string>; file?: string; timeoutMs?: number } = {}): Promise<WalkthroughRun> {
  const { env, blocks } = readWalkthrough(heading, options.file);
  const dir = tempDir("ferry-walkthrough-");
  const receiver = await startReceiver();
  let ferry: ServerProcess | undefined;
  const stop = async () => {
    await ferry?.stop();
    await receiver.close();
    dir.cleanup();
  };
  try {
    ferry = await startServer("start", { FERRY_DATA_DIR: dir.path, FERRY_ADMIN_TOKEN: ADMIN_TOKEN, ...env, ...options.extraEnv });
    const script = ["set -euo pipefail", ...blocks.flatMap((b) => [`echo '${MARK}'`, b])].join("\n");
    const shellEnv = { ...withoutProxies(process.env), ...env, FERRY: ferry.url, ADMIN_TOKEN, RECEIVER: receiver.url };
    const timeoutMs = options.timeoutMs ?? 60_000;
    const { code, stdout, stderr, timedOut } = await runBash(script, shellEnv, timeoutMs);
    const outputs = stdout.split(`${MARK}\n`).slice(1);
    if (code !== 0) {
      const failed = blocks[Math.max(0, outputs.length - 1)];
      const how = timedOut ? `timed out after ${timeoutMs} ms` : `exit ${code}`;
      throw new Error(`walk-through "${heading}" failed (${how}) in block ${outputs.length}:\n${failed}\n--- stdout:\n${outputs.at(-1) ?? ""}\n--- stderr:\n${stderr}\n--- ferry stderr:\n${ferry.stderr().slice(-2000)}`);
    }
    return { outputs, received: receiver.received, ferry, receiver: receiver.url, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The environment without proxy settings: curl honours http_proxy and friends, and would send the
 * walk-through's requests to 127.0.0.1 through a proxy (or fail), so Ferry would see the proxy's
 * address, not 127.0.0.1's.
 */
export function withoutProxies(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!/^(https?|all|no)_proxy$/i.test(k)) out[k] = v;
  return out;
}

export function runBash(script: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    // A process group of its own: on timeout the whole group is killed. Killing bash alone would
    // leave a running curl or sleep holding the stdout pipe, and "close" would wait for it.
    const child = spawn("bash", ["-c", script], { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // the group is gone already
      }
    }, timeoutMs);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}
