/**
 * A real redis-server of the test's own: a free non-default port, a password (`--requirepass`),
 * an append-only file in a temp dir so a restart keeps what was acknowledged. Seed 000 asks for
 * Redis on another port with authentication, so the tests run that way too.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Redis } from "ioredis";
import { randomBytes } from "node:crypto";
import { tempDir } from "./harness.js";
import { freePort } from "./processes.js";

export { freePort };

export interface TestRedis {
  port: number;
  password: string;
  /** redis://:password@127.0.0.1:port/0 */
  url: string;
  /** Stops the server (SIGKILL when `hard`); the data stays for `start`. */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  close(): Promise<void>;
}

export interface StartRedisOptions {
  /** More redis-server arguments, after (so overriding) the defaults above, e.g. ["--maxmemory-policy", "allkeys-lru"]. */
  args?: string[];
}

export async function startRedis(options: StartRedisOptions = {}): Promise<TestRedis> {
  const dir = tempDir("ferry-redis-");
  const port = await freePort();
  const password = randomBytes(12).toString("hex");
  let child: ChildProcess | undefined;

  const start = async () => {
    const proc = spawn(
      "redis-server",
      [
        "--port", String(port),
        "--bind", "127.0.0.1",
        "--requirepass", password,
        "--dir", dir.path,
        "--appendonly", "yes",
        "--appendfsync", "always", // a SIGKILLed server keeps every acknowledged write
        "--save", "",
        "--loglevel", "warning",
        ...(options.args ?? []),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child = proc;
    let output = "";
    proc.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    proc.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    // Ready once it accepts a connection that authenticates.
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}: ${output}`);
      if (await answersPing(port, password)) return;
      if (Date.now() > deadline) {
        // Not left running: its pipes would keep the test process alive.
        proc.kill("SIGKILL");
        throw new Error(`redis-server did not start on port ${port}: ${output}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const stop = async (hard = false) => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once("exit", resolve));
    proc.kill(hard ? "SIGKILL" : "SIGTERM");
    await exited;
  };

  await start();
  return {
    port,
    password,
    url: `redis://:${password}@127.0.0.1:${port}/0`,
    stop,
    start,
    async close() {
      await stop(true);
      dir.cleanup();
    },
  };
}

/** One AUTH + PING over a raw socket: no client library between the test and the server. */
async function answersPing(port: number, password: string): Promise<boolean> {
  const { connect } = await import("node:net");
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let data = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on("error", () => done(false));
    // Closed without a word (a server starting or going): the socket's timeout no longer runs.
    socket.on("close", () => done(false));
    socket.on("connect", () => socket.write(`AUTH ${password}\r\nPING\r\n`));
    socket.on("data", (d) => {
      data += d.toString();
      if (data.includes("+PONG")) done(true);
      else if (data.includes("-")) done(false);
    });
  });
}

/** Bytes the server has read and written on all connections since it started (INFO stats). */
export async function networkBytes(redis: Redis): Promise<{ input: number; output: number }> {
  const info = await redis.info("stats");
  const read = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, "m").exec(info)?.[1] ?? NaN);
  return { input: read("total_net_input_bytes"), output: read("total_net_output_bytes") };
}
