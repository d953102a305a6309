/**
 * `npm run bench:failover`: the long version of test/redis-failover.test.ts (issue 15). For
 * FERRY_REDIS_WAIT_REPLICAS=1 and then 0, each on a fresh primary + replica + three sentinels
 * (test/support/redis-sentinel.ts) and a Postgres database of its own: `ferry api` and `ferry
 * worker` under steady ingest from BENCH_SENDERS senders (each request BENCH_PER_REQUEST
 * postbacks, retried with its Idempotency-Key on 503), the primary killed with SIGKILL
 * BENCH_KILLS times (started again after each failover: it comes back as the replica),
 * BENCH_STEADY_MS of load between steps. Prints, per setting: acknowledged, delivered,
 * acknowledged-but-never-delivered, duplicates, how long ingest answered 503 after each kill,
 * and the time to failover.
 *
 *   BENCH_KILLS=3 BENCH_SENDERS=16 BENCH_STEADY_MS=5000 npm run bench:failover
 */
import { cpus, loadavg } from "node:os";
import { startRedisSentinels } from "../test/support/redis-sentinel.js";
import { createDatabase } from "../test/support/postgres.js";
import { killAll } from "../test/support/processes.js";
import { runFailover, type FailoverFigures } from "../test/support/redis-failover-run.js";

const KILLS = Number(process.env["BENCH_KILLS"] ?? 3);
const SENDERS = Number(process.env["BENCH_SENDERS"] ?? 16);
const PER_REQUEST = Number(process.env["BENCH_PER_REQUEST"] ?? 5);
const STEADY_MS = Number(process.env["BENCH_STEADY_MS"] ?? 5000);
const SETTINGS = (process.env["BENCH_WAIT"] ?? "1,0").split(",").map(Number);
const TOKEN = "bench-failover-admin-token-0123456789";

const results: FailoverFigures[] = [];
try {
  for (const waitReplicas of SETTINGS) {
    const [sentinels, database] = await Promise.all([startRedisSentinels(), createDatabase("ferry_bench_failover")]);
    try {
      results.push(
        await runFailover(sentinels, {
          waitReplicas, kills: KILLS, senders: SENDERS, perRequest: PER_REQUEST, steadyMs: STEADY_MS, prefix: `w${waitReplicas}`,
          adminToken: TOKEN, databaseUrl: database.url, drainMs: 60_000,
          log: (line) => console.error(`  WAIT ${waitReplicas}: ${line}`),
        }),
      );
    } finally {
      await killAll();
      await sentinels.close();
      await database.drop();
    }
  }
} finally {
  await killAll();
}
console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
console.log(`${KILLS} kill(s) of the primary per setting, ${SENDERS} senders × ${PER_REQUEST} postbacks per request, ${STEADY_MS} ms of load between steps`);
console.log("| FERRY_REDIS_WAIT_REPLICAS | acknowledged | delivered | acknowledged, never delivered | duplicates | ingest 503 after each kill (first→last, ms) | kill → new primary (ms) | acknowledged postbacks/s |");
console.log("|---|---|---|---|---|---|---|---|");
for (const f of results) {
  console.log(`| ${f.waitReplicas} | ${f.acknowledged} | ${f.delivered} | ${f.acknowledgedLost} | ${f.duplicates} | ${f.unavailableMs.join(", ")} | ${f.failoverMs.join(", ")} | ${f.ingestPerSecond} |`);
}
for (const f of results) if (f.badAnswers > 0 || f.networkErrors > 0) console.log(`WAIT ${f.waitReplicas}: ${f.badAnswers} bad answers, ${f.networkErrors} network errors; ${JSON.stringify(f.statuses)}`);
