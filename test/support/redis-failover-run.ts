/**
 * The failover measurement of issue 15, shared by test/redis-failover.test.ts (short) and
 * bench/redis-failover.ts (long): real `ferry api` and `ferry worker` processes on Redis
 * through its sentinels and on Postgres, steady ingest from several senders that retry each
 * request with its Idempotency-Key on 503 as a client should, the Redis primary killed with
 * SIGKILL (and started again once the sentinels promoted its replica: it comes back as the new
 * replica), then a count of what the receiver got against what was acknowledged.
 */
import { randomUUID } from "node:crypto";
import { startReceiver, type Receiver } from "../../src/receiver.js";
import { tempDir } from "./harness.js";
import { startServer, startWorker, type FerryProcess } from "./processes.js";
import type { RedisSentinels } from "./redis-sentinel.js";

export interface FailoverRun {
  /** FERRY_REDIS_WAIT_REPLICAS for api and worker. */
  waitReplicas: number;
  /** How many times the primary is killed. */
  kills: number;
  /** Concurrent senders, each one request at a time. */
  senders: number;
  /** Postbacks per ingest request. */
  perRequest: number;
  /** Load before the first kill, and after each failover before the next step. */
  steadyMs: number;
  /** FERRY_REDIS_PREFIX: a run of its own on the shared Redis. */
  prefix: string;
  adminToken: string;
  databaseUrl: string;
  /** Longest to wait for acknowledged postbacks to arrive after the load stops. */
  drainMs?: number;
  log?: (line: string) => void;
}

export interface FailoverFigures {
  waitReplicas: number;
  kills: number;
  requests: number;
  /** Postbacks answered 2xx (distinct unique fields). */
  acknowledged: number;
  /** Distinct postbacks the receiver got. */
  delivered: number;
  /** Acknowledged and never delivered: the figure WAIT must keep at 0. */
  acknowledgedLost: number;
  /** Deliveries beyond the first of a postback. */
  duplicates: number;
  /** Answers by status (after retries: every attempt counted). */
  statuses: Record<string, number>;
  /** 5xx answers other than 503, and 503s without Retry-After: must be 0. */
  badAnswers: number;
  /** Network errors talking to the API (it is never killed here): must be 0. */
  networkErrors: number;
  /** Per kill: first to last 503 after it, in ms (0: none). */
  unavailableMs: number[];
  /** Per kill: from SIGKILL to the sentinels naming the new primary, in ms. */
  failoverMs: number[];
  /** Postbacks ingested per second over the whole load, acknowledged only. */
  ingestPerSecond: number;
}

/** The Ferry settings for Redis through `sentinels`. */
export function sentinelEnv(sentinels: RedisSentinels): Record<string, string> {
  return {
    FERRY_REDIS_URL: sentinels.url,
    FERRY_REDIS_SENTINELS: sentinels.sentinels,
    FERRY_REDIS_MASTER_NAME: sentinels.masterName,
  };
}

export async function runFailover(sentinels: RedisSentinels, o: FailoverRun): Promise<FailoverFigures> {
  const log = o.log ?? (() => {});
  const received = new Map<string, number>();
  const receiver: Receiver = await startReceiver({
    record: false,
    onRequest: (r) => {
      const n = new URL(r.url).searchParams.get("n") ?? "?";
      received.set(n, (received.get(n) ?? 0) + 1);
    },
  });
  const env = {
    ...sentinelEnv(sentinels),
    FERRY_REDIS_PREFIX: o.prefix,
    FERRY_REDIS_WAIT_REPLICAS: String(o.waitReplicas),
    FERRY_REDIS_WAIT_TIMEOUT_MS: "500",
    // Short command timeout: a command lost with the killed primary fails in a second, not ten.
    FERRY_REDIS_COMMAND_TIMEOUT_MS: "1000",
    FERRY_DATABASE_URL: o.databaseUrl,
    FERRY_MIGRATE_ON_START: "true",
    FERRY_ADMIN_TOKEN: o.adminToken,
    FERRY_DATA_DIR: tempDir().path,
    FERRY_LEASE_MS: "5000",
    FERRY_TIMEOUT_MS: "2000",
    FERRY_CONCURRENCY: "32",
  };
  const procs: FerryProcess[] = [];
  try {
    // A server killed by an earlier run must have resynced first: promoting a replica still
    // catching up would lose more than this run's kill does.
    await sentinels.waitForSettled();
    const api = await startServer("api", env);
    procs.push(api);
    procs.push(await startWorker(env));

    const acknowledged = new Set<string>();
    const ackedAt = new Map<string, number>();
    const statuses: Record<string, number> = {};
    const times503: number[] = [];
    let badAnswers = 0;
    let networkErrors = 0;
    let requests = 0;
    let next = 0;
    let stopping = false;
    const sender = async () => {
      while (!stopping) {
        const ns = Array.from({ length: o.perRequest }, () => `${o.prefix}-${next++}`);
        const key = randomUUID();
        const body = JSON.stringify({ endpoint: { method: "GET", url: `${receiver.url}/hit?n={n}` }, data: ns.map((n) => ({ n })) });
        requests++;
        // One request, retried with its key until answered 2xx (or the load stops: then it
        // was never acknowledged and does not count).
        while (!stopping) {
          let status: number;
          let retryAfter: string | null = null;
          try {
            const res = await fetch(`${api.url}/ingest`, {
              method: "POST",
              headers: { "content-type": "application/json", authorization: `Bearer ${o.adminToken}`, "idempotency-key": key },
              body,
              signal: AbortSignal.timeout(15_000),
            });
            await res.arrayBuffer();
            status = res.status;
            retryAfter = res.headers.get("retry-after");
          } catch {
            networkErrors++;
            await sleep(200);
            continue;
          }
          statuses[status] = (statuses[status] ?? 0) + 1;
          if (status >= 200 && status < 300) {
            for (const n of ns) acknowledged.add(n);
            ackedAt.set(ns[0]!, Date.now());
            break;
          }
          if (status === 503) {
            times503.push(Date.now());
            if (retryAfter === null) badAnswers++;
            // As a client should: wait what Retry-After says (Ferry says 1 s), here cut to
            // 250 ms so the 503 window is measured finely.
            await sleep(Math.min(250, Number(retryAfter ?? 1) * 1000));
            continue;
          }
          if (status >= 500) badAnswers++;
          log(`unexpected ${status}; giving up this request`);
          break;
        }
      }
    };
    const t0 = Date.now();
    const load = Promise.all(Array.from({ length: o.senders }, sender));
    const failoverMs: number[] = [];
    const killedAt: number[] = [];
    await sleep(o.steadyMs);
    for (let k = 0; k < o.kills; k++) {
      const oldPort = await sentinels.primaryPort();
      const victim = await sentinels.primary();
      killedAt.push(Date.now());
      await victim.stop(true);
      const newPort = await sentinels.waitForFailover(oldPort);
      failoverMs.push(Date.now() - killedAt[k]!);
      log(`kill ${k + 1}: primary ${oldPort} killed, ${newPort} promoted after ${failoverMs[k]} ms`);
      // Started again, it comes back with its data and the sentinels make it the new replica.
      await victim.start();
      log(`kill ${k + 1}: ${oldPort} started again ${Date.now() - killedAt[k]!} ms after the kill`);
      await sleep(o.steadyMs);
    }
    stopping = true;
    await load;
    const loadSeconds = (Date.now() - t0) / 1000;

    // Wait for the acknowledged postbacks to arrive; stop early once all have.
    const deadline = Date.now() + (o.drainMs ?? 20_000);
    while (Date.now() < deadline && [...acknowledged].some((n) => !received.has(n))) await sleep(100);
    await sleep(500); // late duplicates

    const lost = [...acknowledged].filter((n) => !received.has(n));
    if (lost.length > 0) {
      const when = [...new Set(lost.map((n) => ackedAt.get(n)).filter((t) => t !== undefined))].map((t) => t! - killedAt[0]!).sort((a, b) => a - b);
      log(`acknowledged and not delivered: ${lost.slice(0, 10).join(", ")}${lost.length > 10 ? ", …" : ""}; acknowledged at ${when[0]}…${when[when.length - 1]} ms after the first kill`);
      // What each process said: a worker that stalled (writes failing, reservations erroring)
      // is told from one that never saw the postbacks.
      const t0 = killedAt[0]!;
      for (const [i, p] of procs.entries()) {
        const lines = p.logs();
        const attempts = lines.filter((l) => l["msg"] === "attempt");
        const lastAttempt = attempts.length ? Number(attempts[attempts.length - 1]!["time"]) - t0 : undefined;
        log(`process ${i} (${i === 0 ? "api" : "worker"}): ${attempts.length} attempt lines, the last at ${lastAttempt ?? "-"} ms after the kill`);
        for (const l of lines.filter((x) => Number(x["level"]) >= 40).slice(-40)) {
          const { level, time, pid: _pid, msg, ...rest } = l;
          log(`  ${Number(time) - t0} ms L${level} ${msg} ${JSON.stringify(rest).slice(0, 300)}`);
        }
      }
    }
    let duplicates = 0;
    for (const count of received.values()) duplicates += count - 1;
    const unavailableMs = killedAt.map((at, k) => {
      const end = killedAt[k + 1] ?? Infinity;
      const within = times503.filter((t) => t >= at && t < end);
      return within.length === 0 ? 0 : within[within.length - 1]! - within[0]!;
    });
    return {
      waitReplicas: o.waitReplicas,
      kills: o.kills,
      requests,
      acknowledged: acknowledged.size,
      delivered: [...received.keys()].filter((n) => n.startsWith(`${o.prefix}-`)).length,
      acknowledgedLost: lost.length,
      duplicates,
      statuses,
      badAnswers,
      networkErrors,
      unavailableMs,
      failoverMs,
      ingestPerSecond: Math.round(acknowledged.size / loadSeconds),
    };
  } finally {
    for (const p of procs) await p.stop(5_000).catch(() => {});
    await receiver.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
