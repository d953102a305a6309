/**
 * Real `ferry` processes for tests: spawn the compiled CLI with a clean FERRY_* environment,
 * collect its output, wait for /healthz or a line, send signals, and make sure nothing outlives
 * the test (`killAll` in an after hook).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

/** The compiled CLI, found relative to this compiled file (dist/test/support or .build/x/test/support). */
export const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface FerryProcess {
  child: ChildProcess;
  pid: number;
  /** Everything written to stdout / stderr so far. */
  stdout(): string;
  stderr(): string;
  /** stdout lines that parse as JSON objects: the pino log. */
  logs(): Array<Record<string, any>>;
  /** Resolves with the match once stdout (or stderr) matches `pattern`; rejects on exit or timeout. */
  waitForOutput(pattern: RegExp, timeoutMs?: number, stream?: "stdout" | "stderr"): Promise<RegExpMatchArray>;
  /** Settles when the process has exited. */
  exited: Promise<Exit>;
  /** The exit, once it happened. */
  exit(): Exit | undefined;
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL if it has not exited after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<Exit>;
}

const live = new Set<FerryProcess>();

/** SIGKILLs every process spawned here that is still running; for after/finally hooks. */
export async function killAll(): Promise<void> {
  const waits: Promise<Exit>[] = [];
  for (const p of live) {
    if (!p.exit()) {
      p.signal("SIGKILL");
      waits.push(p.exited);
    }
  }
  await Promise.all(waits);
}

/**
 * The environment without any FERRY_* variable of the caller, plus `env`. Private
 * destinations are allowed unless `env` says otherwise: the tests' receivers are on 127.0.0.1.
 * No name but localhost is resolved: a test that would reach outside this machine fails.
 */
export function ferryEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { FERRY_ALLOW_PRIVATE_DESTINATIONS: "true", FERRY_TEST_ONLY_LOCAL_DNS: "true" };
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("FERRY_")) out[k] = v;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

/** Spawns `node <CLI> ...args` with `env` as its only FERRY_* settings. */
export function spawnFerry(args: string[], env: Record<string, string | undefined> = {}): FerryProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env: ferryEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  let exit: Exit | undefined;
  const watchers = new Set<() => void>();
  const notify = () => {
    for (const w of [...watchers]) w();
  };
  child.stdout!.setEncoding("utf8").on("data", (s: string) => ((out += s), notify()));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => ((err += s), notify()));
  const exited = new Promise<Exit>((resolve) => {
    // "close": the process is gone and its output fully read.
    child.once("close", (code, signal) => {
      exit = { code, signal };
      live.delete(proc);
      notify();
      resolve(exit);
    });
  });
  const proc: FerryProcess = {
    child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    logs() {
      const lines: Array<Record<string, any>> = [];
      for (const line of out.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
          lines.push(JSON.parse(line) as Record<string, any>);
        } catch {
          // a line cut short by a kill
        }
      }
      return lines;
    },
    waitForOutput(pattern, timeoutMs = 10_000, stream = "stdout") {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = (stream === "stdout" ? out : err).match(pattern);
          if (m) return done(() => resolve(m));
          if (exit) return done(() => reject(new Error(`ferry ${args[0]} exited (${JSON.stringify(exit)}) before printing ${pattern}\nstdout: ${out.slice(-2000)}\nstderr: ${err.slice(-2000)}`)));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`ferry ${args[0]} did not print ${pattern} within ${timeoutMs} ms\nstdout: ${out.slice(-2000)}\nstderr: ${err.slice(-2000)}`))),
          timeoutMs,
        );
        const done = (then: () => void) => {
          clearTimeout(timer);
          watchers.delete(check);
          then();
        };
        watchers.add(check);
        check();
      });
    },
    exited,
    exit: () => exit,
    signal(signal) {
      if (!exit) child.kill(signal);
    },
    async stop(timeoutMs = 10_000) {
      if (exit) return exit;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
  live.add(proc);
  return proc;
}

/** A port nobody listens on right now (listen on 0, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls GET `url`/healthz until it answers 200; fails at once if `proc` exits. */
export async function waitForHealthy(url: string, proc?: FerryProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc?.exit()) {
      throw new Error(`ferry exited (${JSON.stringify(proc.exit())}) before /healthz answered\nstdout: ${proc.stdout().slice(-2000)}\nstderr: ${proc.stderr().slice(-2000)}`);
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url}/healthz did not answer 200 within ${timeoutMs} ms\nstderr: ${proc?.stderr().slice(-2000) ?? ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface ServerProcess extends FerryProcess {
  /** http://127.0.0.1:port */
  url: string;
  port: number;
}

/**
 * Starts `ferry start` or `ferry api` on a free port (unless FERRY_PORT is given) on 127.0.0.1
 * and resolves once /healthz answers.
 */
export async function startServer(role: "start" | "api", env: Record<string, string | undefined>): Promise<ServerProcess> {
  const port = env["FERRY_PORT"] ? Number(env["FERRY_PORT"]) : await freePort();
  const proc = spawnFerry([role], { FERRY_HOST: "127.0.0.1", ...env, FERRY_PORT: String(port) });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHealthy(url, proc);
    // The signal handlers are installed once start-up is done, right after this line.
    await proc.waitForOutput(/^ferry \w+ listening on /m);
  } catch (err) {
    proc.signal("SIGKILL");
    throw err;
  }
  return Object.assign(proc, { url, port });
}

/** Starts `ferry worker` and resolves once it logs that it runs. */
export async function startWorker(env: Record<string, string | undefined>): Promise<FerryProcess> {
  const proc = spawnFerry(["worker"], env);
  try {
    await proc.waitForOutput(/"msg":"ferry worker running"/);
  } catch (err) {
    proc.signal("SIGKILL");
    throw err;
  }
  return proc;
}

/** POST /ingest; returns the status and parsed body. */
export async function ingest(url: string, token: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/ingest`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: res.status, body: parsed };
}

/** Polls `check` every 10 ms until it is true; fails with `what()` after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Milliseconds since `t0`. */
export function since(t0: number): number {
  return Date.now() - t0;
}
