/**
 * The HA layout's long run (issue 15, part 3): the layout of test/support/ha-layout.ts (haproxy,
 * two `ferry api`, two `ferry worker`, Redis with a replica and three sentinels, Postgres behind
 * a proxy that can be cut) under a steady load, each fault done several times in turn: kill -9
 * an api, a worker, the Redis primary (each started again), cut Postgres, each once ingest has
 * settled after the one before. Prints what senders
 * saw and what the partner got: lost, duplicated, every 5xx, and each fault's recovery.
 *
 *   npm run build --silent && node dist/bench/ha-layout.js [--rate 50] [--rounds 3]
 *     [--between-ms 10000] [--cut-ms 10000] [--wait-replicas 0] [--direct-redis] [--json]
 *
 * Exits 1 when anything acknowledged was lost or a sender saw a 5xx other than 503 with
 * Retry-After. docs/operations.md ("High availability") quotes a run.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describeMachine } from "./machine.js";
import { killAll } from "../test/support/processes.js";
import {
  drained,
  fault,
  settled,
  figures,
  haproxyRetries,
  LAYOUT_SETTINGS,
  startHaLayout,
  startLoad,
  type Fault,
  type FaultFigures,
  type FaultKind,
} from "../test/support/ha-layout.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const TOKEN = "ha-layout-bench-admin-token-0123456789";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isFinite(value) || value < 0) {
    console.error(`--${name}: give a number, got ${JSON.stringify(process.argv[i + 1])}`);
    process.exit(2);
  }
  return value;
}

const rate = option("rate", 50);
const rounds = option("rounds", 3);
const betweenMs = option("between-ms", 10_000);
const cutMs = option("cut-ms", 10_000);
const waitReplicas = option("wait-replicas", 0);
const sentinels = !process.argv.includes("--direct-redis");
const json = process.argv.includes("--json");

const machine = describeMachine(root);
const log = (line: string) => {
  if (!json) console.log(line);
};
log(`ha-layout: ${rate} requests/s, ${rounds} rounds of each fault ${betweenMs} ms apart, Postgres cut ${cutMs} ms, ${sentinels ? "sentinels" : "Redis primary direct"}, FERRY_REDIS_WAIT_REPLICAS=${waitReplicas}`);
log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory_gib} GiB, ${machine.os}, node ${machine.node}, load ${machine.load_average_at_start}, commit ${machine.commit}`);

const layout = await startHaLayout({ adminToken: TOKEN, sentinels, waitReplicas });
let failed = false;
try {
  const load = startLoad({ url: layout.url, token: TOKEN, receiverUrl: layout.receiver.url, rate });
  const faults: Fault[] = [];
  const plan: Array<[FaultKind, number]> = [];
  for (let r = 0; r < rounds; r++) {
    plan.push(["api", r % 2], ["worker", r % 2]);
    if (sentinels) plan.push(["redis-primary", 0]);
    plan.push(["postgres", 0]);
  }
  await sleep(betweenMs);
  for (const [kind, index] of plan) {
    // Some requests in the api's hands when it dies (see the test).
    if (kind === "api") {
      load.burst(10);
      await sleep(3);
    }
    const f = await fault(layout, kind, index, cutMs);
    faults.push(f);
    log(`${new Date(f.at).toISOString()} ${f.name}: undone after ${f.endedAt - f.at} ms`);
    await sleep(betweenMs);
    // Each fault's figures its own: the next waits until ingest answers 202 again.
    await settled(load);
  }
  const stoppedAt = Date.now();
  const { gaveUp } = await load.stop(90_000);
  log(`load stopped; last request answered after ${Date.now() - stoppedAt} ms`);
  const drainStart = Date.now();
  const allArrived = await drained(load, layout.receiver, LAYOUT_SETTINGS.FERRY_LEASE_MS + 60_000);
  log(`drained ${allArrived ? "" : "NOT "}after ${Date.now() - drainStart} ms`);
  // Late duplicates (a lease running out) land after the drain: a moment more to count them.
  await sleep(2_000);
  const f = figures(load, layout.receiver, faults);
  const haproxy = haproxyRetries(layout.haproxy.log());
  failed = f.lost.length > 0 || f.badFiveXx.length > 0;

  const byKind = new Map<string, FaultFigures[]>();
  for (const x of f.faults) {
    const kind = x.name.replace(/ \(.*\)$/, "").replace(/\d+$/, "");
    byKind.set(kind, [...(byKind.get(kind) ?? []), x]);
  }
  const summary = [...byKind].map(([kind, xs]) => {
    const range = (pick: (x: FaultFigures) => number) => {
      const v = xs.map(pick).sort((a, b) => a - b);
      return { min: v[0]!, median: v[Math.floor(v.length / 2)]!, max: v[v.length - 1]! };
    };
    const answers: Record<string, number> = {};
    for (const x of xs) for (const [k, n] of Object.entries(x.answers)) answers[k] = (answers[k] ?? 0) + n;
    return { fault: kind, times: xs.length, undone_ms: range((x) => x.undoneMs), ingest_recovery_ms: range((x) => x.ingestRecoveryMs), delivery_recovery_ms: range((x) => x.deliveryRecoveryMs), answers_other_than_202: answers };
  });
  const result = {
    settings: { rate, rounds, between_ms: betweenMs, cut_ms: cutMs, sentinels, wait_replicas: waitReplicas, ...LAYOUT_SETTINGS },
    machine,
    sent: f.sent,
    acknowledged: f.acknowledged,
    delivered: f.delivered,
    lost: f.lost.length,
    duplicates: f.duplicates,
    delivered_unacknowledged: f.deliveredUnacknowledged,
    gave_up: gaveUp.length,
    five_xx: f.fiveXx,
    bad_five_xx: f.badFiveXx.length,
    conflicts_409: f.conflicts,
    connection_errors: f.connectionErrors,
    max_ack_ms: f.maxAckMs,
    haproxy,
    faults: summary,
    each_fault: f.faults,
  };
  if (json) {
    console.log(JSON.stringify(result, null, 2));
  } else {
    log("");
    log(`sent ${f.sent}, acknowledged ${f.acknowledged}, delivered ${f.delivered} distinct; lost ${f.lost.length}; duplicates ${f.duplicates}; delivered unacknowledged ${f.deliveredUnacknowledged}; given up ${gaveUp.length}`);
    log(`5xx seen by senders: ${JSON.stringify(f.fiveXx)} (not 503 with Retry-After: ${f.badFiveXx.length}); 409 idempotency_key_in_use: ${f.conflicts}; connection errors: ${f.connectionErrors}`);
    log(`longest from first send to 202: ${f.maxAckMs} ms; haproxy retried ${haproxy.retried} requests (${haproxy.redispatched} to another server), its own errors: ${JSON.stringify(haproxy.ownErrors)}; sent to the fail-open backups: ${haproxy.failedOpen}`);
    log("");
    log("| fault | times | undone after (ms) | ingest 202 again after (ms) | deliveries again after (ms) | answers other than 202 |");
    log("|---|---|---|---|---|---|");
    const r = (x: { min: number; median: number; max: number }) => `${x.min} / ${x.median} / ${x.max}`;
    for (const s of summary) {
      log(`| ${s.fault} | ${s.times} | ${r(s.undone_ms)} | ${r(s.ingest_recovery_ms)} | ${r(s.delivery_recovery_ms)} | ${Object.entries(s.answers_other_than_202).map(([k, n]) => `${n} × ${k}`).join(", ") || "none"} |`);
    }
    log("(min / median / max)");
  }
  if (f.lost.length) console.error(`LOST: ${f.lost.slice(0, 20).join(", ")}`);
  for (const a of f.badFiveXx.slice(0, 10)) console.error(`5xx not allowed: ${JSON.stringify(a)}`);
} finally {
  await layout.close();
  await killAll();
}
process.exit(failed ? 1 : 0);
