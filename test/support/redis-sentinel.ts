/**
 * A Redis primary, a replica and three sentinels, all from the machine's own `redis-server`
 * binary on free ports, for the failover tests (issue 15). Sentinels notice a dead primary
 * after 1 s (`down-after-milliseconds`) and promote the replica; a killed server started again
 * comes back as a replica of whoever is primary then.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:net";
import { randomBytes } from "node:crypto";
import { tempDir } from "./harness.js";
import { freePort } from "./processes.js";

export interface RedisNode {
  port: number;
  /** Whether the process is running. */
  readonly running: boolean;
  /** SIGKILL (the default) or SIGTERM; its data dir stays for `start`. */
  stop(hard?: boolean): Promise<void>;
  /** Starts it again on the same port with the same data and config. */
  start(): Promise<void>;
}

export interface RedisSentinels {
  /** The name the sentinels monitor the primary under: FERRY_REDIS_MASTER_NAME. */
  masterName: string;
  /** The data servers' password (requirepass and masterauth); the sentinels have none. */
  password: string;
  /** For FERRY_REDIS_URL: gives the password and db; its host is the first primary's. */
  url: string;
  /** For FERRY_REDIS_SENTINELS: "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3". */
  sentinels: string;
  /** The two data servers: [first primary, first replica]. Which is primary changes on failover. */
  servers: RedisNode[];
  sentinelNodes: RedisNode[];
  /** The port the sentinels name as primary now (asks the first sentinel that answers). */
  primaryPort(): Promise<number>;
  /** The server that is primary now. */
  primary(): Promise<RedisNode>;
  /**
   * Waits until the sentinels name a primary other than `oldPort`, and that server answers as a
   * master; returns its port. Throws after `timeoutMs`.
   */
  waitForFailover(oldPort: number, timeoutMs?: number): Promise<number>;
  /**
   * Waits until every running sentinel names the same primary and every other running data
   * server replicates from it with its link up (a server started again after a kill has
   * resynced); returns the primary's port. Throws after `timeoutMs`.
   */
  waitForSettled(timeoutMs?: number): Promise<number>;
  close(): Promise<void>;
}

export async function startRedisSentinels(options: { masterName?: string; downAfterMs?: number } = {}): Promise<RedisSentinels> {
  const dir = tempDir("ferry-sentinel-");
  const masterName = options.masterName ?? "ferry";
  const password = randomBytes(12).toString("hex");
  const [p1, p2, s1, s2, s3] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const dataArgs = (port: number) => [
    "--port", String(port),
    "--bind", "127.0.0.1",
    "--requirepass", password,
    "--masterauth", password,
    "--dir", join(dir.path, `redis-${port}`),
    "--appendonly", "yes",
    "--appendfsync", "everysec",
    "--save", "",
    "--loglevel", "warning",
  ];
  const primary = node(p1, () => dataArgs(p1), password);
  const replica = node(p2, () => [...dataArgs(p2), "--replicaof", "127.0.0.1", String(p1)], password);
  const sentinelNodes = [s1!, s2!, s3!].map((port) => {
    const file = join(dir.path, `sentinel-${port}.conf`);
    // Sentinels rewrite their own file as they learn the topology; it is written once, here.
    writeFileSync(
      file,
      [
        `port ${port}`,
        "bind 127.0.0.1",
        `dir ${dir.path}`,
        `sentinel monitor ${masterName} 127.0.0.1 ${p1} 2`,
        `sentinel auth-pass ${masterName} ${password}`,
        `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs ?? 1000}`,
        `sentinel failover-timeout ${masterName} 5000`,
        `sentinel parallel-syncs ${masterName} 1`,
        "",
      ].join("\n"),
    );
    return node(port, () => [file, "--sentinel", "--loglevel", "warning"], undefined);
  });
  const { mkdirSync } = await import("node:fs");
  mkdirSync(join(dir.path, `redis-${p1}`));
  mkdirSync(join(dir.path, `redis-${p2}`));

  const all = [primary, replica, ...sentinelNodes];
  try {
    await primary.start();
    await replica.start();
    for (const s of sentinelNodes) await s.start();
    // Ready when the replica has synced and every sentinel knows the replica and the others.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const info = await command(p2, password, ["INFO", "replication"]).catch(() => "");
      const synced = /master_link_status:up/.test(info);
      const known = await Promise.all(
        sentinelNodes.map((s) => command(s.port, undefined, ["SENTINEL", "MASTER", masterName]).catch(() => "")),
      );
      if (synced && known.every((reply) => /num-slaves\r\n\$\d+\r\n1\r\n/.test(reply) && /num-other-sentinels\r\n\$\d+\r\n2\r\n/.test(reply))) break;
      if (Date.now() > deadline) throw new Error(`sentinels did not settle: replica ${synced ? "synced" : "not synced"}; ${known.join(" | ").slice(0, 500)}`);
      await sleep(100);
    }
  } catch (err) {
    for (const n of all) await n.stop(true);
    dir.cleanup();
    throw err;
  }

  const primaryPort = async (): Promise<number> => {
    for (const s of sentinelNodes) {
      if (!s.running) continue;
      const reply = await command(s.port, undefined, ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName]).catch(() => "");
      const m = /\$\d+\r\n[^\r]+\r\n\$\d+\r\n(\d+)\r\n/.exec(reply);
      if (m) return Number(m[1]);
    }
    throw new Error("no sentinel answered GET-MASTER-ADDR-BY-NAME");
  };
  const byPort = (port: number) => {
    const found = [primary, replica].find((n) => n.port === port);
    if (!found) throw new Error(`the sentinels name port ${port}, which is none of this set's servers`);
    return found;
  };

  return {
    masterName,
    password,
    url: `redis://:${password}@127.0.0.1:${p1}/0`,
    sentinels: sentinelNodes.map((s) => `127.0.0.1:${s.port}`).join(","),
    servers: [primary, replica],
    sentinelNodes,
    primaryPort,
    primary: async () => byPort(await primaryPort()),
    async waitForFailover(oldPort, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const port = await primaryPort().catch(() => oldPort);
        if (port !== oldPort) {
          const role = await command(port, password, ["ROLE"]).catch(() => "");
          if (role.includes("master")) return port;
        }
        if (Date.now() > deadline) throw new Error(`no failover from port ${oldPort} within ${timeoutMs} ms`);
        await sleep(100);
      }
    },
    async waitForSettled(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const named = await Promise.all(
          sentinelNodes.filter((s) => s.running).map(async (s) => {
            const reply = await command(s.port, undefined, ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName]).catch(() => "");
            return /\$\d+\r\n[^\r]+\r\n\$\d+\r\n(\d+)\r\n/.exec(reply)?.[1];
          }),
        );
        const port = Number(named[0]);
        if (named.length > 0 && named.every((p) => p !== undefined && Number(p) === port)) {
          const others = [primary, replica].filter((n) => n.running && n.port !== port);
          const infos = await Promise.all(others.map((n) => command(n.port, password, ["INFO", "replication"]).catch(() => "")));
          const role = await command(port, password, ["ROLE"]).catch(() => "");
          if (role.includes("master") && infos.every((i) => i.includes(`master_port:${port}`) && /master_link_status:up/.test(i) && /master_sync_in_progress:0/.test(i))) return port;
        }
        if (Date.now() > deadline) throw new Error(`the sentinels did not settle within ${timeoutMs} ms (they name ${named.join(", ")})`);
        await sleep(100);
      }
    },
    async close() {
      for (const n of all) await n.stop(true);
      dir.cleanup();
    },
  };
}

function node(port: number, args: () => string[], password: string | undefined): RedisNode {
  let child: ChildProcess | undefined;
  return {
    port,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async start() {
      if (this.running) return;
      const proc = spawn("redis-server", args(), { stdio: ["ignore", "pipe", "pipe"] });
      child = proc;
      let output = "";
      proc.stdout?.on("data", (d: Buffer) => (output += d.toString()));
      proc.stderr?.on("data", (d: Buffer) => (output += d.toString()));
      const deadline = Date.now() + 10_000;
      for (;;) {
        if (proc.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${proc.exitCode}: ${output}`);
        if ((await command(port, password, ["PING"]).catch(() => "")).includes("+PONG")) return;
        if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}: ${output}`);
        await sleep(20);
      }
    },
    async stop(hard = true) {
      const proc = child;
      child = undefined;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((resolve) => proc.once("exit", resolve));
      proc.kill(hard ? "SIGKILL" : "SIGTERM");
      await exited;
    },
  };
}

/**
 * One command over a raw socket (AUTH first when a password is given); resolves with the raw
 * RESP reply, read until the socket has been quiet for a moment. No client library between the
 * test and the servers, so what a test sees of the topology is not ioredis's view of it.
 * Always settles within 2 s: a server killed or restarting may close the connection without a
 * word (no data, no error), and a socket's own timeout stops counting once it is closed.
 */
function command(port: number, password: string | undefined, args: string[]): Promise<string> {
  const encode = (parts: string[]) => `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join("")}`;
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let data = "";
    let quiet: NodeJS.Timeout | undefined;
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(quiet);
      clearTimeout(deadline);
      socket.destroy();
      if (err) reject(err);
      else resolve(password ? data.replace(/^\+OK\r\n/, "") : data);
    };
    const deadline = setTimeout(() => settle(new Error(`no answer from port ${port} within 2 s`)), 2_000);
    socket.on("error", (err) => settle(err));
    socket.on("close", () => settle(data ? undefined : new Error(`port ${port} closed the connection without an answer`)));
    socket.on("connect", () => socket.write((password ? encode(["AUTH", password]) : "") + encode(args)));
    socket.on("data", (d) => {
      data += d.toString();
      clearTimeout(quiet);
      quiet = setTimeout(() => settle(), 30);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
