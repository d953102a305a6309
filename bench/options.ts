/**
 * The bench's options: flags win over BENCH_* environment variables, which win over defaults.
 * docs/benchmarks.md lists them.
 */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

export type BackendName = "embedded" | "redis-postgres";
export const BACKENDS: readonly BackendName[] = ["embedded", "redis-postgres"];

/**
 * throughput: the direct baseline, then per backend warm-up, closed loop, half rate, backlog.
 * throughput-destinations: the same runs (no backlog), the postbacks going in through an
 *   account's destination (POST /v1/push) instead of inline endpoints (issue 16).
 * isolation: 10 destinations on the embedded default, all healthy, then one of them hanging.
 * isolation-slow: the same, the healthy ones answering after --isolation-answer-ms (issue 14).
 * events: per backend, BENCH_EVENTS events through POST /v1/events, then the queries of issue 10.
 * rate-limit: per backend, a destination with rate_limit R and burst 1 drained by two workers
 *   (embedded: one `ferry start`); the partner's measured rate against R (issue 14).
 * fairness: per backend, account A's backlog draining while account B sends a trickle; B's
 *   enqueue→delivery latency and A's drain rate (issue 14).
 */
export type ScenarioName = "throughput" | "throughput-destinations" | "isolation" | "isolation-slow" | "events" | "rate-limit" | "fairness";
export const SCENARIOS: readonly ScenarioName[] = ["throughput", "throughput-destinations", "isolation", "isolation-slow", "events", "rate-limit", "fairness"];
/** The scenarios that run on each backend (the isolation ones run on embedded alone). */
export const PER_BACKEND: readonly ScenarioName[] = ["throughput", "throughput-destinations", "events", "rate-limit", "fairness"];

/**
 * How the load generator sends ingest requests and event batches: undici's request() with a
 * body serialized once (`undici`), or @ferry/client (`client`: fetch, the body serialized per
 * request, as a user's code would). docs/benchmarks.md says what each costs.
 */
export type LoadClient = "undici" | "client";
export const LOAD_CLIENTS: readonly LoadClient[] = ["undici", "client"];

export interface Options {
  /** Ingest requests in the closed-loop and half-rate phases. */
  requests: number;
  /** Data objects per ingest request (10: seed-shaped). */
  perRequest: number;
  /** Ingest requests in flight (closed loop), and postbacks in flight for the direct baseline. */
  concurrency: number;
  /** Which scenarios run, in this order. */
  scenarios: ScenarioName[];
  /** Which backends; "auto": embedded, plus redis-postgres when redis-server and Postgres are there. */
  backends: BackendName[] | "auto";
  /** Postbacks queued with no worker running, then drained; 0: no backlog phase. */
  backlog: number;
  /** Run the open-loop phase at half the closed-loop end-to-end rate. */
  halfRate: boolean;
  /** Isolation scenario: ingest requests per run, all 10 destinations together (a multiple of 10). */
  isolationRequests: number;
  /** Isolation scenario: pairs of runs (all healthy, one hanging), in alternating order. */
  isolationRounds: number;
  /** Isolation scenario: FERRY_TIMEOUT_MS of its Ferry process, how long the hanging destination holds each attempt. */
  isolationTimeoutMs: number;
  /** isolation-slow: how long the healthy destinations take to answer, ms. */
  isolationAnswerMs: number;
  /** rate-limit: the destination's rate_limit (postbacks/s; its rate_limit_burst is 1). */
  rateLimit: number;
  /** rate-limit: the backlog lasts this many seconds at rateLimit (rateLimit × seconds postbacks). */
  rateLimitSeconds: number;
  /** fairness: postbacks account A has queued before its drain starts. */
  fairnessBacklog: number;
  /** fairness: account B's pushes per second (one postback each), open loop, while A drains. */
  fairnessRate: number;
  /** fairness: for how many seconds B sends. */
  fairnessSeconds: number;
  /** Events scenario: events stored through POST /v1/events per backend. */
  events: number;
  /** Events scenario: events per POST /v1/events request (at most FERRY_MAX_BATCH). */
  eventsBatch: number;
  /** Events scenario: ingest requests in flight (closed loop, one connection each). */
  eventsConcurrency: number;
  /** Events scenario: timed queries of each kind, one at a time, after a warm-up. */
  eventQueries: number;
  smoke: boolean;
  /** Where the JSON and Markdown reports go. */
  outDir: string;
  /** Where the SVG charts go: outDir (named <timestamp>-<chart>.svg), or a folder given (<chart>.svg). */
  chartsDir: string | null;
  /** Compare the run's figures with docs/benchmarks.md's bench-reference block; exit 1 on a drop over 15%. */
  check: boolean;
  /** Rewrite docs/benchmarks.md's bench-reference block from the run. */
  record: boolean;
  /** The Markdown file holding the bench-reference block. */
  referenceFile: string;
  /** Extra node flags for every Ferry process, e.g. --cpu-prof --cpu-prof-dir=/tmp/prof. */
  ferryNodeArgs: string[];
  /** Redis appendfsync (the test server's default is always: every acknowledged write on disk). */
  redisAppendfsync: "always" | "everysec" | "no";
  /** A phase that sees no new postback for this long fails. */
  stallSeconds: number;
  /** What sends the ingest requests and event batches (the queries and the direct baseline always use undici). */
  loadClient: LoadClient;
}

export const USAGE = `npm run bench -- [options]   (or node dist/bench/pipeline.js [options])

  --scenarios LIST    throughput, throughput-destinations, isolation, isolation-slow, events,
                      rate-limit, fairness, or all (BENCH_SCENARIOS, all; with --check or
                      --record: throughput)
                      throughput: the direct baseline and each backend's phases;
                      throughput-destinations: the same, through an account's destination
                      (POST /v1/push, signed), not inline endpoints;
                      isolation: 10 destinations, all healthy, then one hanging (embedded);
                      isolation-slow: the same with the healthy ones answering slowly;
                      events: per backend, events in through POST /v1/events, then queries;
                      rate-limit: per backend, a rate-limited destination, two workers;
                      fairness: per backend, a noisy account's backlog beside a quiet one
  --events N          events stored per backend by the events scenario (BENCH_EVENTS, 1000000)
  --events-batch N    events per POST /v1/events (BENCH_EVENTS_BATCH, 1000)
  --events-concurrency N   POST /v1/events requests in flight (BENCH_EVENTS_CONCURRENCY, 4)
  --event-queries N   timed queries of each kind per backend (BENCH_EVENT_QUERIES, 1000)
  --requests N        ingest requests of 10 data objects (BENCH_REQUESTS, 2000)
  --concurrency N     ingest requests in flight; postbacks in flight for the direct
                      baseline (BENCH_CONCURRENCY, 32)
  --backends LIST     embedded, redis-postgres, both, or auto: both when redis-server and
                      Postgres can be reached (BENCH_BACKENDS, auto)
  --backlog N         also queue N postbacks with no worker, then drain them (BENCH_BACKLOG, 0)
  --no-half-rate      skip the open-loop run at half the measured rate (BENCH_HALF_RATE=0)
  --isolation-requests N   ingest requests per isolation run, rounded up to a multiple of 10
                      (BENCH_ISOLATION_REQUESTS, 5000)
  --isolation-rounds N     pairs of isolation runs, A B, B A, A B...; the median ratio counts
                      (BENCH_ISOLATION_ROUNDS, 3)
  --isolation-timeout-ms N  FERRY_TIMEOUT_MS of the isolation runs (BENCH_ISOLATION_TIMEOUT_MS, 2000)
  --isolation-answer-ms N   isolation-slow: the healthy destinations answer after N ms
                      (BENCH_ISOLATION_ANSWER_MS, 50)
  --rate-limit R      rate-limit: the destination's rate_limit, postbacks/s, burst 1 (BENCH_RATE_LIMIT, 50)
  --rate-limit-seconds N   rate-limit: a backlog of R × N postbacks (BENCH_RATE_LIMIT_SECONDS, 10)
  --fairness-backlog N     fairness: account A's backlog (BENCH_FAIRNESS_BACKLOG, 200000)
  --fairness-rate N   fairness: account B's pushes per second while A drains (BENCH_FAIRNESS_RATE, 20)
  --fairness-seconds N     fairness: for how long B sends (BENCH_FAIRNESS_SECONDS, 10)
  --load-client undici|client   what sends ingest requests and event batches: undici's
                      request() with bodies serialized once, or @ferry/client
                      (BENCH_LOAD_CLIENT, undici; docs/benchmarks.md says why)
  --smoke             one small, fast iteration of every phase (BENCH_SMOKE=1)
  --out DIR           where <timestamp>.json and .md go (BENCH_OUT_DIR, bench/results)
  --charts-dir DIR    write the SVG charts there as throughput.svg, latency.svg, cpu.svg
                      (default: beside the report, as <timestamp>-<chart>.svg)
  --check             compare the run's figures with the bench-reference block of
                      docs/benchmarks.md; exit 1 when one is more than 15% worse (not with --smoke)
  --record            rewrite that block from the run (not with --smoke)
  --redis-appendfsync always|everysec|no   (BENCH_REDIS_APPENDFSYNC, always)
  BENCH_FERRY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"   node flags for Ferry's processes
  BENCH_STALL_SECONDS=120   fail a phase in which nothing moves for this long
  BENCH_COMMIT=abc1234      the commit to report when running from an export, not a checkout
Other FERRY_* variables (say FERRY_CONCURRENCY) reach Ferry's processes. docs/benchmarks.md
says what each figure means.
`;

/** The repository root: the nearest folder above this compiled file with package.json and docs/. */
export const ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!(existsSync(join(dir, "package.json")) && existsSync(join(dir, "docs")))) {
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
})();

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenarios: { type: "string" },
      requests: { type: "string" },
      concurrency: { type: "string" },
      backends: { type: "string" },
      backlog: { type: "string" },
      "no-half-rate": { type: "boolean" },
      "isolation-requests": { type: "string" },
      "isolation-rounds": { type: "string" },
      "isolation-timeout-ms": { type: "string" },
      "isolation-answer-ms": { type: "string" },
      "rate-limit": { type: "string" },
      "rate-limit-seconds": { type: "string" },
      "fairness-backlog": { type: "string" },
      "fairness-rate": { type: "string" },
      "fairness-seconds": { type: "string" },
      events: { type: "string" },
      "events-batch": { type: "string" },
      "events-concurrency": { type: "string" },
      "event-queries": { type: "string" },
      smoke: { type: "boolean" },
      "load-client": { type: "string" },
      out: { type: "string" },
      "charts-dir": { type: "string" },
      check: { type: "boolean" },
      record: { type: "boolean" },
      "redis-appendfsync": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const smoke = values.smoke ?? ["1", "true", "yes"].includes(env["BENCH_SMOKE"] ?? "");
  const int = (name: string, flag: string | undefined, variable: string, fallback: number, min: number): number => {
    const raw = flag ?? env[variable];
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw.replaceAll("_", ""));
    if (!Number.isInteger(n) || n < min) throw new Error(`${name}: must be a whole number ≥ ${min}, got "${raw}"`);
    return n;
  };
  const backendsRaw = values.backends ?? env["BENCH_BACKENDS"] ?? "auto";
  let backends: Options["backends"];
  if (backendsRaw === "auto") backends = "auto";
  else if (backendsRaw === "both" || backendsRaw === "all") backends = [...BACKENDS];
  else {
    backends = backendsRaw.split(",").map((b) => b.trim()) as BackendName[];
    for (const b of backends) if (!BACKENDS.includes(b)) throw new Error(`--backends: unknown backend "${b}" (known: ${BACKENDS.join(", ")}, both, auto)`);
  }
  const check = values.check ?? false;
  const record = values.record ?? false;
  for (const [flag, on] of [["--check", check], ["--record", record]] as const) {
    if (on && smoke) throw new Error(`${flag} with --smoke: a smoke run's figures mean nothing; run ${flag} on a full run (no --smoke, no BENCH_SMOKE)`);
  }
  const scenariosRaw = values.scenarios ?? env["BENCH_SCENARIOS"] ?? (check || record ? "throughput" : "all");
  let scenarios: ScenarioName[];
  if (scenariosRaw === "all") scenarios = [...SCENARIOS];
  else {
    const asked = scenariosRaw.split(",").map((s) => s.trim()) as ScenarioName[];
    for (const s of asked) if (!SCENARIOS.includes(s)) throw new Error(`--scenarios: unknown scenario "${s}" (known: ${SCENARIOS.join(", ")}, all)`);
    scenarios = SCENARIOS.filter((s) => asked.includes(s));
  }
  const fsync = values["redis-appendfsync"] ?? env["BENCH_REDIS_APPENDFSYNC"] ?? "always";
  if (!["always", "everysec", "no"].includes(fsync)) throw new Error(`--redis-appendfsync: always, everysec or no, got "${fsync}"`);
  const halfRateEnv = env["BENCH_HALF_RATE"];
  const loadClient = values["load-client"] ?? env["BENCH_LOAD_CLIENT"] ?? "undici";
  if (!LOAD_CLIENTS.includes(loadClient as LoadClient)) throw new Error(`--load-client: undici or client, got "${loadClient}"`);
  return {
    scenarios,
    requests: int("--requests", values.requests, "BENCH_REQUESTS", smoke ? 20 : 2000, 1),
    perRequest: 10,
    concurrency: int("--concurrency", values.concurrency, "BENCH_CONCURRENCY", smoke ? 4 : 32, 1),
    backends,
    backlog: int("--backlog", values.backlog, "BENCH_BACKLOG", smoke ? 200 : 0, 0),
    halfRate: !(values["no-half-rate"] ?? (halfRateEnv !== undefined && ["0", "false", "no"].includes(halfRateEnv))),
    // 10 destinations: request i goes to destination i mod 10, so each gets the same number.
    isolationRequests: Math.ceil(int("--isolation-requests", values["isolation-requests"], "BENCH_ISOLATION_REQUESTS", smoke ? 40 : 5000, 10) / 10) * 10,
    isolationRounds: int("--isolation-rounds", values["isolation-rounds"], "BENCH_ISOLATION_ROUNDS", smoke ? 1 : 3, 1),
    // Ferry requires FERRY_LEASE_MS (default 60 s) ≥ 2 × FERRY_TIMEOUT_MS.
    isolationTimeoutMs: int("--isolation-timeout-ms", values["isolation-timeout-ms"], "BENCH_ISOLATION_TIMEOUT_MS", 2000, 100),
    isolationAnswerMs: int("--isolation-answer-ms", values["isolation-answer-ms"], "BENCH_ISOLATION_ANSWER_MS", 50, 1),
    rateLimit: int("--rate-limit", values["rate-limit"], "BENCH_RATE_LIMIT", 50, 1),
    rateLimitSeconds: int("--rate-limit-seconds", values["rate-limit-seconds"], "BENCH_RATE_LIMIT_SECONDS", smoke ? 2 : 10, 1),
    fairnessBacklog: int("--fairness-backlog", values["fairness-backlog"], "BENCH_FAIRNESS_BACKLOG", smoke ? 2000 : 200_000, 1),
    fairnessRate: int("--fairness-rate", values["fairness-rate"], "BENCH_FAIRNESS_RATE", 20, 1),
    fairnessSeconds: int("--fairness-seconds", values["fairness-seconds"], "BENCH_FAIRNESS_SECONDS", smoke ? 2 : 10, 1),
    events: int("--events", values.events, "BENCH_EVENTS", smoke ? 2000 : 1_000_000, 1),
    eventsBatch: int("--events-batch", values["events-batch"], "BENCH_EVENTS_BATCH", smoke ? 100 : 1000, 1),
    eventsConcurrency: int("--events-concurrency", values["events-concurrency"], "BENCH_EVENTS_CONCURRENCY", smoke ? 2 : 4, 1),
    eventQueries: int("--event-queries", values["event-queries"], "BENCH_EVENT_QUERIES", smoke ? 20 : 1000, 1),
    smoke,
    outDir: resolve(values.out ?? env["BENCH_OUT_DIR"] ?? join(ROOT, "bench", "results")),
    chartsDir: values["charts-dir"] ? resolve(values["charts-dir"]) : null,
    check,
    record,
    referenceFile: join(ROOT, "docs", "benchmarks.md"),
    ferryNodeArgs: (env["BENCH_FERRY_NODE_ARGS"] ?? "").split(" ").filter(Boolean),
    redisAppendfsync: fsync as Options["redisAppendfsync"],
    stallSeconds: int("stall", undefined, "BENCH_STALL_SECONDS", 120, 1),
    loadClient: loadClient as LoadClient,
  };
}
