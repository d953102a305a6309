/**
 * An HA layout of real processes on 127.0.0.1 (issue 15, part 3): Debian's haproxy in front of
 * two `ferry api`, two `ferry worker`, Redis as a primary, a replica and three sentinels, and
 * Postgres (a fresh database) reached through a TCP proxy that can be cut. Plus what measures
 * it: a receiver counting postbacks by the unique id in their data, and a load generator that
 * sends small ingest requests through haproxy at a steady rate, each with an Idempotency-Key,
 * retrying like a good client and recording every answer.
 *
 * Each part can be killed and started again as a service manager would (`kill -9`, then the
 * same command on the same port): the test (test/ha-layout.test.ts) and the long run
 * (bench/ha-layout.ts) drive the faults and read the figures from `report()`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./harness.js";
import { freePort, startServer, startWorker, type FerryProcess } from "./processes.js";
import { startRedisSentinels, type RedisSentinels } from "./redis-sentinel.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";
import { createDatabase, serverUrl, type TestDatabase } from "./postgres.js";
import { startReceiver, type Receiver } from "../../src/receiver.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// haproxy

/**
 * haproxy's configuration for the layout, every setting argued: the aim is that a killed
 * `ferry api` costs a sender nothing it can see, and that whatever a sender does see is a 503
 * with Retry-After (Ferry's own, or haproxy's made to look like it).
 */
export function haproxyConfig(options: { frontPort: number; apiPorts: number[] }): string {
  const servers = options.apiPorts.map((port, i) => `  server api${i + 1} 127.0.0.1:${port} check`);
  const openServers = options.apiPorts.map((port, i) => `  server api${i + 1}-open 127.0.0.1:${port} backup`);
  const problem = JSON.stringify({
    type: "urn:ferry:error:not_ready",
    title: "Not ready",
    status: 503,
    code: "not_ready",
    detail: "No Ferry API process answered behind the load balancer; send the request again shortly, with the same Idempotency-Key.",
  });
  return [
    "global",
    // Foreground (-db), as the test's user: no daemon, chroot or user switch. Logs go to stdout,
    // one line per request, so a run can count haproxy's retries and redispatches.
    "  log stdout format raw local0 info",
    "  maxconn 4096",
    "",
    "defaults",
    "  mode http",
    "  log global",
    // %rc: retries of this request ("+" in front when it was redispatched to another server);
    // %tsc: how the session ended (e.g. "SC--" haproxy's own 503 after failed connections).
    '  log-format "%t %b/%s %ST %rc %tsc %TR/%Tw/%Tc/%Tr/%Ta %{+Q}r"',
    // Loopback (or a LAN): a live api accepts in well under a millisecond and a dead one refuses
    // at once, so this only bounds an api whose accept queue is stuck. It also sets the pause
    // before each retry (min(timeout connect, 1 s)), which haproxy 2.6 takes even when the retry
    // goes to another server: measured, 501 ms with 500ms here. Short, so a retry costs 0.1 s.
    "  timeout connect 100ms",
    "  timeout client 30s",
    "  timeout http-request 10s",
    // Above Ferry's own longest wait before it answers 503 itself (a Redis command times out
    // after FERRY_REDIS_COMMAND_TIMEOUT_MS, 10 s by default; Postgres calls fail fast when the
    // server is gone): so `response-timeout` below fires only for an api process that hangs,
    // never for one that is about to answer, and the retry does not race the first try.
    "  timeout server 15s",
    "  timeout queue 5s",
    // Each retry goes to another server (`redispatch 1`, not only the last one): with two apis
    // and the fail-open backups below, 3 retries reach every live process at least once.
    "  retries 3",
    "  option redispatch 1",
    // What is retried on another api:
    // - conn-failure: the api is down (killed, restarting): nothing was sent, always safe.
    // - empty-response: the api died with the request in hand (kill -9). It may have queued the
    //   postbacks already; the retry carries the same Idempotency-Key, so Ferry answers it from
    //   the key (202 with the same ids, or 409 idempotency_key_in_use while the dead process's
    //   claim is fresh), never queueing twice. Without this, the sender would get a 502.
    // - response-timeout: an api that hangs (see `timeout server`); same key argument. Without
    //   it, a 504.
    // Not retried: 503 (Ferry's 503 means a backend it needs is out, which the other api shares,
    // and its Retry-After tells the sender when to come back: a retry here only adds load),
    // 500, 502, 504, junk-response (a malformed answer is a bug to see, not to hide).
    "  retry-on conn-failure empty-response response-timeout",
    // haproxy's own 503 (every server down, or every retry failed) says when to come back and
    // why, as Ferry's own 503s do, so a sender handles both the same way.
    `  http-error status 503 content-type application/problem+json hdr retry-after 1 string '${problem}'`,
    "",
    "frontend ferry",
    `  bind 127.0.0.1:${options.frontPort}`,
    // The sender's address for Ferry's logs and FERRY_TRUSTED_NETWORKS: Ferry believes the header
    // only from FERRY_TRUSTED_PROXIES (haproxy's address; 127.0.0.1 in the layout).
    "  option forwardfor",
    "  default_backend ferry_api",
    "",
    "backend ferry_api",
    "  balance roundrobin",
    // /readyz: 200 when this api reaches its store and its queue. An api that cannot is taken
    // out after 2 failed checks (about 0.5 s), back after 2 good ones (about 1 s).
    "  option httpchk",
    "  http-check send meth GET uri /readyz ver HTTP/1.1 hdr host ferry",
    "  http-check expect status 200",
    // A connection refused by a live-checked server marks it down at once (observe layer4),
    // without waiting for the checks: after a kill -9 only the requests in flight notice.
    "  default-server inter 1s fastinter 250ms downinter 500ms rise 2 fall 2 observe layer4 error-limit 1 on-error mark-down",
    // Ferry keeps idle connections FERRY_KEEP_ALIVE_TIMEOUT_MS (set to 30 s in the layout),
    // longer than haproxy keeps them idle in its pool (pool-purge-delay, 5 s): haproxy closes
    // them first, so it never reuses one Ferry is closing at that very moment.
    ...servers,
    // Fail open: when /readyz fails on every api at once, what is out is a backend they share
    // (Postgres, Redis), not the apis. Sending to them anyway (the backups, not checked) lets
    // Ferry answer for itself: 202 for what it can still do (ingest without a key needs only
    // Redis), otherwise its own 503 store_unavailable / queue_unavailable with Retry-After,
    // which says what is out. A dead backup refuses the connection and the retry goes on.
    "  option allbackups",
    ...openServers,
    "",
  ].join("\n");
}

export interface Haproxy {
  url: string;
  port: number;
  configPath: string;
  /** haproxy's log lines so far (one per request, and its health-check changes). */
  log(): string[];
  close(): Promise<void>;
}

/** Checks the configuration with `haproxy -c`, then runs haproxy in the foreground. */
export async function startHaproxy(dir: string, apiPorts: number[]): Promise<Haproxy> {
  const port = await freePort();
  const configPath = join(dir, "haproxy.cfg");
  writeFileSync(configPath, haproxyConfig({ frontPort: port, apiPorts }));
  const check = spawn("haproxy", ["-c", "-q", "-f", configPath], { stdio: ["ignore", "pipe", "pipe"] });
  let checkOut = "";
  check.stdout!.on("data", (d: Buffer) => (checkOut += d.toString()));
  check.stderr!.on("data", (d: Buffer) => (checkOut += d.toString()));
  const checked = await new Promise<number | null>((resolve) => check.once("close", resolve));
  if (checked !== 0) throw new Error(`haproxy -c refused ${configPath}:\n${checkOut}`);

  const child: ChildProcess = spawn("haproxy", ["-db", "-f", configPath], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}: ${out}`);
    const up = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })
      .then(async (r) => (await r.arrayBuffer(), r.status === 200))
      .catch(() => false);
    if (up) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`haproxy on port ${port} did not pass /healthz through within 10 s: ${out}`);
    }
    await sleep(100);
  }
  return {
    url,
    port,
    configPath,
    log: () => out.split("\n").filter(Boolean),
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/**
 * From haproxy's log: requests it retried, how many of those it sent to another server, its
 * own error answers (no server, or every retry failed), and requests sent to the fail-open
 * backups (every api's /readyz failing at once).
 */
export function haproxyRetries(lines: string[]): { retried: number; redispatched: number; ownErrors: Record<string, number>; failedOpen: number } {
  let retried = 0;
  let redispatched = 0;
  let failedOpen = 0;
  const ownErrors: Record<string, number> = {};
  for (const line of lines) {
    // "%t %b/%s %ST %rc %tsc ...": e.g. "30/Nov/2026:03:13:25.137 ferry_api/api1 202 +1 ---- ..."
    const m = /^\S+ \S+\/(\S+) (-?\d+) (\+?)(\d+) (\S{4}) /.exec(line);
    if (!m) continue;
    const [, server, status, plus, retries, termination] = m;
    if (Number(retries) > 0) retried++;
    if (plus === "+") redispatched++;
    if (server!.endsWith("-open")) failedOpen++;
    if (server === "<NOSRV>" || termination![0] === "s" || termination![0] === "S") {
      const key = `${status} ${termination}`;
      ownErrors[key] = (ownErrors[key] ?? 0) + 1;
    }
  }
  return { retried, redispatched, ownErrors, failedOpen };
}

// ---------------------------------------------------------------------------------------------
// Ferry processes as services

/** One `ferry api` or `ferry worker` as a service manager runs it: killed, started again. */
export interface Service {
  name: string;
  current(): FerryProcess;
  /** kill -9, and waits until it is gone. */
  kill(): Promise<void>;
  /** Starts it again with the same settings (and port); resolves once it is up. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

function service(name: string, run: () => Promise<FerryProcess>, first: FerryProcess): Service {
  let proc = first;
  return {
    name,
    current: () => proc,
    async kill() {
      proc.signal("SIGKILL");
      await proc.exited;
    },
    async start() {
      proc = await run();
    },
    async stop() {
      proc.signal("SIGKILL");
      await proc.exited;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The receiver

/** A partner's endpoint that counts postbacks by the unique id in their data. */
export interface CountingReceiver {
  url: string;
  /** Arrivals per id. */
  counts: Map<string, number>;
  /** Arrival times (ms since the epoch), in order. */
  arrivals: number[];
  total(): number;
  close(): Promise<void>;
}

export async function startCountingReceiver(): Promise<CountingReceiver> {
  const counts = new Map<string, number>();
  const arrivals: number[] = [];
  let total = 0;
  const receiver: Receiver = await startReceiver({
    host: "127.0.0.1",
    record: false,
    onRequest(request) {
      const id = new URL(request.url).searchParams.get("id") ?? "(none)";
      counts.set(id, (counts.get(id) ?? 0) + 1);
      arrivals.push(request.receivedAt);
      total++;
    },
  });
  return { url: receiver.url, counts, arrivals, total: () => total, close: () => receiver.close() };
}

// ---------------------------------------------------------------------------------------------
// The layout

export interface HaLayoutOptions {
  adminToken: string;
  /** Point Ferry at the sentinels (FERRY_REDIS_SENTINELS) rather than at the first primary. */
  sentinels: boolean;
  /** FERRY_REDIS_WAIT_REPLICAS, with sentinels. */
  waitReplicas?: number;
  /** More FERRY_* settings for every process. */
  env?: Record<string, string>;
}

export interface HaLayout {
  /** haproxy's front: where senders send. */
  url: string;
  haproxy: Haproxy;
  apis: Service[];
  workers: Service[];
  redis: RedisSentinels;
  postgres: { database: TestDatabase; proxy: TcpProxy };
  receiver: CountingReceiver;
  /** The FERRY_* settings every process runs with. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Worker settings the figures depend on; the docs and the duplicate bound quote them. */
export const LAYOUT_SETTINGS = {
  FERRY_CONCURRENCY: 16,
  /** Above the 10 s Postgres cut: a worker holding finished attempts through it keeps them. */
  FERRY_LEASE_MS: 15_000,
  FERRY_TIMEOUT_MS: 2_000,
};

export async function startHaLayout(options: HaLayoutOptions): Promise<HaLayout> {
  const dir = tempDir("ferry-ha-");
  const cleanups: Array<() => Promise<void> | void> = [() => dir.cleanup()];
  const close = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  };
  try {
    const receiver = await startCountingReceiver();
    cleanups.push(() => receiver.close());
    const redis = await startRedisSentinels();
    cleanups.push(() => redis.close());
    const database = await createDatabase("ferry_ha");
    cleanups.push(() => database.drop());
    const server = new URL(serverUrl());
    const proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port || 5432) });
    cleanups.push(() => proxy.close());
    const dbUrl = new URL(database.url);
    dbUrl.hostname = "127.0.0.1";
    dbUrl.port = String(proxy.port);

    const env: Record<string, string> = {
      FERRY_REDIS_URL: redis.url,
      ...(options.sentinels
        ? {
            FERRY_REDIS_SENTINELS: redis.sentinels,
            FERRY_REDIS_MASTER_NAME: redis.masterName,
            ...(options.waitReplicas ? { FERRY_REDIS_WAIT_REPLICAS: String(options.waitReplicas) } : {}),
          }
        : {}),
      FERRY_REDIS_PREFIX: "ha",
      FERRY_DATABASE_URL: dbUrl.toString(),
      FERRY_MIGRATE_ON_START: "true",
      FERRY_ADMIN_TOKEN: options.adminToken,
      FERRY_DATA_DIR: dir.path,
      FERRY_CONCURRENCY: String(LAYOUT_SETTINGS.FERRY_CONCURRENCY),
      FERRY_LEASE_MS: String(LAYOUT_SETTINGS.FERRY_LEASE_MS),
      FERRY_TIMEOUT_MS: String(LAYOUT_SETTINGS.FERRY_TIMEOUT_MS),
      // Longer than haproxy keeps an idle server connection (see haproxyConfig).
      FERRY_KEEP_ALIVE_TIMEOUT_MS: "30000",
      FERRY_TRUSTED_PROXIES: "127.0.0.1",
      ...options.env,
    };

    const apiPorts = [await freePort(), await freePort()];
    // The first api migrates the fresh database; the rest start after it.
    const apis: Service[] = [];
    for (const [i, port] of apiPorts.entries()) {
      const run = () => startServer("api", { ...env, FERRY_PORT: String(port) });
      apis.push(service(`api${i + 1}`, run, await run()));
    }
    cleanups.push(async () => {
      for (const s of apis) await s.stop();
    });
    const workers: Service[] = [];
    for (let i = 0; i < 2; i++) {
      const run = () => startWorker(env);
      workers.push(service(`worker${i + 1}`, run, await run()));
    }
    cleanups.push(async () => {
      for (const s of workers) await s.stop();
    });
    const haproxy = await startHaproxy(dir.path, apiPorts);
    cleanups.push(() => haproxy.close());
    return { url: haproxy.url, haproxy, apis, workers, redis, postgres: { database, proxy }, receiver, env, close };
  } catch (err) {
    await close();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// The load generator

/** One answer a sender got (or a connection that failed: status 0). */
export interface Answer {
  at: number;
  /** The request's unique id (the id in its data, and its Idempotency-Key). */
  id: string;
  status: number;
  retryAfter: string | null;
  /** The problem's `code`, when the answer was problem+json. */
  code: string | undefined;
  /** For status 0: what failed. */
  error?: string;
}

export interface Load {
  answers: Answer[];
  /** Acknowledged ids (202), with when. */
  acked: Map<string, number>;
  /** When each id was first sent. */
  firstSent: Map<string, number>;
  /** Ids sent so far. */
  sent(): number;
  /** When `stop` was called (undefined while running). */
  stoppedAt(): number | undefined;
  /** Starts `n` more requests at once (e.g. so that some are in flight when an api is killed). */
  burst(n: number): void;
  /** Requests sent but not yet answered 202 (or refused for good). */
  pending(): number;
  /**
   * Stops starting new requests; those under way keep retrying until acknowledged or until
   * `giveUpAfterMs` from now, then are left unacknowledged. Resolves when none is left.
   */
  stop(giveUpAfterMs: number): Promise<{ gaveUp: string[] }>;
}

/**
 * Sends `rate` small ingest requests a second through `url`, each with one data object
 * {"id": <unique>} and an Idempotency-Key, delivered to `receiverUrl`/r?id=<id>. A good client,
 * with at most `maxInFlight` requests under way: on 503 and 409 idempotency_key_in_use it waits
 * what Retry-After says (1 s without one), plus up to half again as jitter; on a connection
 * error, 250 ms (plus jitter); any other 5xx is recorded and retried after 1 s; another 4xx is
 * recorded and the request dropped (a bug in the test).
 */
export function startLoad(options: { url: string; token: string; receiverUrl: string; rate: number; prefix?: string; maxInFlight?: number }): Load {
  const answers: Answer[] = [];
  const acked = new Map<string, number>();
  const firstSent = new Map<string, number>();
  let sent = 0;
  let bursts = 0;
  let pending = 0;
  let stopping = false;
  let stoppedAt: number | undefined;
  let giveUpAt = Infinity;
  const gaveUp: string[] = [];
  const idle: Array<() => void> = [];
  const prefix = options.prefix ?? "u";

  // A sender has a bounded pool of connections, as real ones do: past `maxInFlight` requests
  // under way (a retried one keeps its place), new ones wait their turn. Without the bound, a
  // long outage piles up thousands of requests each retrying every second: a retry storm that
  // measured the load generator (and 2 cores) rather than Ferry.
  const maxInFlight = options.maxInFlight ?? 200;
  let inFlight = 0;
  const turns: Array<() => void> = [];
  const sendOne = async (id: string) => {
    pending++;
    firstSent.set(id, Date.now());
    if (inFlight >= maxInFlight) await new Promise<void>((resolve) => turns.push(resolve));
    inFlight++;
    const body = JSON.stringify({ endpoint: { method: "GET", url: `${options.receiverUrl}/r?id={id}` }, data: [{ id }] });
    try {
      for (;;) {
        let wait: number;
        try {
          const res = await fetch(`${options.url}/ingest`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${options.token}`, "idempotency-key": id },
            body,
            signal: AbortSignal.timeout(30_000),
          });
          const text = await res.text();
          let code: string | undefined;
          if ((res.headers.get("content-type") ?? "").includes("json")) {
            try {
              code = (JSON.parse(text) as { code?: string }).code;
            } catch {
              // not JSON after all
            }
          }
          const retryAfter = res.headers.get("retry-after");
          answers.push({ at: Date.now(), id, status: res.status, retryAfter, code });
          if (res.status === 202) {
            acked.set(id, Date.now());
            return;
          }
          if (res.status === 503 || res.status === 429 || (res.status === 409 && code === "idempotency_key_in_use")) {
            wait = retryAfter && /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : 1000;
          } else if (res.status >= 500) {
            wait = 1000;
          } else {
            return;
          }
        } catch (err) {
          answers.push({ at: Date.now(), id, status: 0, retryAfter: null, code: undefined, error: String((err as Error).cause ?? err) });
          wait = 250;
        }
        // Jitter, as good clients add, so that senders refused together do not come back together.
        wait = Math.round(wait * (1 + Math.random() * 0.5));
        if (Date.now() + wait > giveUpAt) {
          gaveUp.push(id);
          return;
        }
        await sleep(wait);
      }
    } finally {
      inFlight--;
      turns.shift()?.();
      pending--;
      if (pending === 0) for (const w of idle.splice(0)) w();
    }
  };

  const started = Date.now();
  const tick = () => {
    if (stopping) return;
    // Steady rate from the start time: a late timer catches up rather than drifting.
    const due = Math.floor(((Date.now() - started) * options.rate) / 1000) + 1;
    while (sent < due) void sendOne(`${prefix}${++sent}`);
    setTimeout(tick, Math.max(5, 1000 / options.rate / 2));
  };
  tick();

  return {
    answers,
    acked,
    firstSent,
    sent: () => sent,
    burst(n) {
      for (let i = 0; i < n; i++) void sendOne(`${prefix}b${++bursts}`);
    },
    pending: () => pending,
    stoppedAt: () => stoppedAt,
    async stop(giveUpAfterMs) {
      stopping = true;
      stoppedAt = Date.now();
      giveUpAt = Date.now() + giveUpAfterMs;
      if (pending > 0) await new Promise<void>((resolve) => idle.push(resolve));
      return { gaveUp };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Faults

export type FaultKind = "api" | "worker" | "redis-primary" | "postgres";

/**
 * Does one fault to the layout and undoes it as operations would, resolving once it is undone:
 * - api / worker `index`: kill -9, then started again at once (systemd's Restart=always);
 * - redis-primary: kill -9 of whichever server the sentinels name primary; once they have
 *   promoted the replica, the old one is started again; undone once the sentinels have made it
 *   a replica and it has resynced;
 * - postgres: every connection through the proxy dropped and new ones refused for `cutMs`.
 */
export async function fault(layout: HaLayout, kind: FaultKind, index = 0, cutMs = 10_000): Promise<Fault> {
  const at = Date.now();
  switch (kind) {
    case "api":
    case "worker": {
      const s = (kind === "api" ? layout.apis : layout.workers)[index]!;
      await s.kill();
      await s.start();
      return { name: `kill -9 ${s.name}`, at, endedAt: Date.now() };
    }
    case "redis-primary": {
      const oldPort = await layout.redis.primaryPort();
      const old = await layout.redis.primary();
      await old.stop(true);
      const newPort = await layout.redis.waitForFailover(oldPort);
      await old.start();
      // Undone once the old primary is a replica again and has resynced: the layout is whole
      // (and a next kill cannot promote a replica still catching up).
      await layout.redis.waitForSettled(60_000);
      return { name: `kill -9 Redis primary (:${oldPort} -> :${newPort})`, at, endedAt: Date.now() };
    }
    case "postgres": {
      await layout.postgres.proxy.cut();
      await sleep(cutMs);
      await layout.postgres.proxy.restore();
      return { name: `Postgres cut ${cutMs / 1000} s`, at, endedAt: Date.now() };
    }
  }
}

/**
 * Resolves once ingest has settled after a fault: the next `n` answers senders get are all 202
 * (or after `timeoutMs`), so that the next fault's figures are its own.
 */
export async function settled(load: Load, n = 20, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Only requests first sent from now on: one an api died holding may get 409s for a minute
    // more, which says nothing about whether ingest works now.
    const since = Date.now();
    const fresh = () => load.answers.filter((a) => a.at >= since && (load.firstSent.get(a.id) ?? 0) >= since).slice(0, n);
    while (fresh().length < n && Date.now() < deadline) await sleep(50);
    if (fresh().every((a) => a.status === 202) || Date.now() >= deadline) return;
  }
}

/** Resolves once every acknowledged id has arrived, or after `timeoutMs`; true if all did. */
export async function drained(load: Load, receiver: CountingReceiver, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let missing = 0;
    for (const id of load.acked.keys()) if (!receiver.counts.has(id)) missing++;
    if (missing === 0) return true;
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------------------------
// Figures

export interface Fault {
  name: string;
  at: number;
  /** When the fault was undone (the Postgres proxy restored); `at` for a kill. */
  endedAt: number;
}

export interface FaultFigures {
  name: string;
  /** ms from the fault until it was undone: the process up again, the old primary back as a resynced replica, the proxy restored. */
  undoneMs: number;
  /** Answers other than 202 between this fault and the next, by "status code (Retry-After?)". */
  answers: Record<string, number>;
  /** ms from the fault until acknowledgements flowed again: the end of the longest gap between 202s. */
  ingestRecoveryMs: number;
  /** The same for arrivals at the receiver. */
  deliveryRecoveryMs: number;
  /** The longest gaps themselves. */
  ingestGapMs: number;
  deliveryGapMs: number;
}

/**
 * From the fault to the end of the longest gap between consecutive times in [fault, until]:
 * how long until things flowed again after the worst stall the fault caused (0 when the times
 * never paused longer than their normal spacing right at the fault).
 */
export function recovery(times: number[], fault: number, until: number): { recoveryMs: number; gapMs: number } {
  let previous = fault;
  let best = { recoveryMs: 0, gapMs: 0 };
  for (const t of times) {
    if (t < fault) continue;
    if (t > until) break;
    if (t - previous > best.gapMs) best = { recoveryMs: t - fault, gapMs: t - previous };
    previous = t;
  }
  // Nothing since the last time up to the window's end: a stall that never ended within it,
  // counted as lasting to the end (else a flow that stopped for good would read as no gap).
  if (until - previous > best.gapMs && until - previous > STALL_MS) best = { recoveryMs: until - fault, gapMs: until - previous };
  // A pause no longer than STALL_MS is the load's own spacing (and the machine's hiccups), not
  // a stall: nothing to recover from.
  return best.gapMs > STALL_MS ? best : { recoveryMs: 0, gapMs: best.gapMs };
}

/** Pauses shorter than this between 202s (or arrivals) do not count as a stall: 10 intervals at 20/s. */
export const STALL_MS = 500;

export interface Figures {
  sent: number;
  acknowledged: number;
  delivered: number;
  /** Acknowledged, never delivered. */
  lost: string[];
  /** Deliveries beyond the first of an id. */
  duplicates: number;
  /** Delivered although never acknowledged (a request given up on, or answered by a dead api). */
  deliveredUnacknowledged: number;
  /** Every 5xx senders saw, by "status code retry-after=<present?>". */
  fiveXx: Record<string, number>;
  /** The 5xx that break the promise: anything but 503 with Retry-After. */
  badFiveXx: Answer[];
  connectionErrors: number;
  conflicts: number;
  /** Longest a request took from its first send to its 202. */
  maxAckMs: number;
  faults: FaultFigures[];
}

export function figures(load: Load, receiver: CountingReceiver, faults: Fault[]): Figures {
  const { acked, firstSent } = load;
  const lost = [...acked.keys()].filter((id) => !receiver.counts.has(id));
  let duplicates = 0;
  let deliveredUnacknowledged = 0;
  for (const [id, n] of receiver.counts) {
    duplicates += n - 1;
    if (!acked.has(id)) deliveredUnacknowledged++;
  }
  const fiveXx: Record<string, number> = {};
  const badFiveXx: Answer[] = [];
  let connectionErrors = 0;
  let conflicts = 0;
  for (const a of load.answers) {
    if (a.status === 0) connectionErrors++;
    if (a.status === 409) conflicts++;
    if (a.status < 500) continue;
    const key = `${a.status} ${a.code ?? "-"} retry-after=${a.retryAfter !== null}`;
    fiveXx[key] = (fiveXx[key] ?? 0) + 1;
    if (a.status !== 503 || a.retryAfter === null) badFiveXx.push(a);
  }
  let maxAckMs = 0;
  for (const [id, at] of acked) maxAckMs = Math.max(maxAckMs, at - (firstSent.get(id) ?? at));
  const ackTimes = load.answers.filter((a) => a.status === 202).map((a) => a.at);
  const arrivals = receiver.arrivals;
  const faultFigures = faults.map((f, i) => {
    // Each fault's window ends at the next fault, the last one's when the load stopped.
    const next = faults[i + 1]?.at ?? load.stoppedAt() ?? Date.now();
    const window = load.answers.filter((a) => a.at >= f.at && a.at < next && a.status !== 202);
    const byKind: Record<string, number> = {};
    for (const a of window) {
      const key = a.status === 0 ? "connection error" : `${a.status} ${a.code ?? "-"}${a.retryAfter !== null ? ` (Retry-After ${a.retryAfter})` : ""}`;
      byKind[key] = (byKind[key] ?? 0) + 1;
    }
    const ingest = recovery(ackTimes, f.at, next);
    const delivery = recovery(arrivals, f.at, next);
    return { name: f.name, undoneMs: f.endedAt - f.at, answers: byKind, ingestRecoveryMs: ingest.recoveryMs, ingestGapMs: ingest.gapMs, deliveryRecoveryMs: delivery.recoveryMs, deliveryGapMs: delivery.gapMs };
  });
  return {
    sent: load.firstSent.size,
    acknowledged: acked.size,
    delivered: receiver.counts.size,
    lost,
    duplicates,
    deliveredUnacknowledged,
    fiveXx,
    badFiveXx,
    connectionErrors,
    conflicts,
    maxAckMs,
    faults: faultFigures,
  };
}
