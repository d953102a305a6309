/**
 * Ferry's processes for the bench: `ferry start`, `ferry api`, `ferry worker` from the compiled
 * CLI, each a separate node process (with BENCH_FERRY_NODE_ARGS, e.g. --cpu-prof), and their
 * peak RSS: VmHWM from /proc/<pid>/status, read just before the process is stopped.
 *
 * Ferry runs at its default log level (info: one line per attempt), as a user who never tunes
 * it would (issue 16), or at BENCH_FERRY_LOG_LEVEL. Its stdout goes to a file, as under systemd
 * or docker it goes to a journal, not through a pipe the bench would spend its own CPU reading.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { freePort } from "../test/support/processes.js";

export const CLI = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));

export type Role = "start" | "api" | "worker";

export interface FerryProcess {
  role: Role;
  pid: number;
  /** http://127.0.0.1:port for start and api. */
  url?: string;
  /** Rejects if the process exits before `stop` is called. */
  crashed: Promise<never>;
  /** The end of what it wrote, for error messages. */
  output(): string;
  /** Peak resident set so far, in MiB (VmHWM); undefined where /proc is not there. */
  peakRssMiB(): number | undefined;
  /** Reads the peak RSS, then SIGTERM (SIGKILL after 60 s); resolves with the peak. */
  stop(): Promise<number | undefined>;
}

export function peakRssMiB(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Math.round((Number(kb) / 1024) * 10) / 10;
  } catch {
    return undefined;
  }
}

/** Ferry's log level in the bench: its default unless BENCH_FERRY_LOG_LEVEL says otherwise. */
export const BENCH_LOG_LEVEL: string | undefined = process.env.BENCH_FERRY_LOG_LEVEL || undefined;

/** The last `bytes` of a file, or "" when it is gone. */
function tail(path: string, bytes: number): string {
  try {
    const size = statSync(path).size;
    const fd = openSync(path, "r");
    try {
      const buf = Buffer.alloc(Math.min(size, bytes));
      readSync(fd, buf, 0, buf.length, size - buf.length);
      return buf.toString();
    } finally {
      closeSync(fd);
    }
  } catch {
    return "";
  }
}

/** The caller's environment without FERRY_* variables the bench sets itself. */
const OWNED = ["FERRY_PORT", "FERRY_HOST", "FERRY_DATA_DIR", "FERRY_ADMIN_TOKEN", "FERRY_LOG_LEVEL", "FERRY_REDIS_URL", "FERRY_REDIS_PREFIX", "FERRY_DATABASE_URL", "FERRY_MIGRATE_ON_START", "FERRY_CONFIG"];
export function ferryEnv(settings: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!OWNED.includes(k)) env[k] = v;
  for (const [k, v] of Object.entries(settings)) if (v !== undefined) env[k] = v;
  return env;
}

export async function startFerry(role: Role, settings: Record<string, string | undefined>, nodeArgs: string[]): Promise<FerryProcess> {
  const port = role === "worker" ? undefined : await freePort();
  // The bench's receiver listens on 127.0.0.1, a private address.
  const env = ferryEnv({ FERRY_LOG_LEVEL: BENCH_LOG_LEVEL, FERRY_HOST: "127.0.0.1", FERRY_ALLOW_PRIVATE_DESTINATIONS: "true", ...settings, ...(port ? { FERRY_PORT: String(port) } : {}) });
  const logDir = mkdtempSync(join(tmpdir(), `ferry-bench-${role}-`));
  const logPath = join(logDir, "stdout.log");
  const logFd = openSync(logPath, "w");
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, CLI, role], { env, stdio: ["ignore", logFd, "pipe"] });
  closeSync(logFd);
  let err = "";
  child.stderr!.on("data", (d: Buffer) => {
    err = (err + d.toString()).slice(-8000);
  });
  const out = () => `${tail(logPath, 8000)}${err}`;
  let stopping = false;
  const crashed = new Promise<never>((_, reject) => {
    child.once("exit", (code, signal) => {
      if (!stopping) reject(new Error(`ferry ${role} exited (${signal ?? code}) during the bench:\n${out()}`));
    });
  });
  crashed.catch(() => {});
  const pid = child.pid!;
  const url = port ? `http://127.0.0.1:${port}` : undefined;
  const proc: FerryProcess = {
    role,
    pid,
    ...(url ? { url } : {}),
    crashed,
    output: out,
    peakRssMiB: () => peakRssMiB(pid),
    async stop() {
      const peak = peakRssMiB(pid);
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
        await exited;
        clearTimeout(timer);
      }
      // At info, a run writes a line per attempt: hundreds of MB over a full bench.
      rmSync(logDir, { recursive: true, force: true });
      return peak;
    },
  };
  if (url) {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) await crashed;
      try {
        const res = await request(`${url}/healthz`);
        await res.body.dump();
        if (res.statusCode === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await proc.stop();
        throw new Error(`ferry ${role} did not answer ${url}/healthz within 30 s:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return proc;
}
