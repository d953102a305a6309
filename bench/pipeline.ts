/**
 * `npm run bench`: seed-shaped load through Ferry, against a direct baseline in the same run
 * (the throughput scenario), ten destinations of which one hangs (the isolation scenario), and
 * a million events stored through POST /v1/events, then queried (the events scenario, issue 10);
 * for issue 14, the isolation scenario with slow healthy partners (isolation-slow), a
 * rate-limited destination drained by two workers (rate-limit), and a noisy account's backlog
 * beside a quiet account's trickle (fairness).
 * docs/benchmarks.md says what it measures, how, and what the figures were.
 *
 * Processes: this one (orchestration and the progress bar only), the load generator
 * (bench/load-process.ts), the receiver (bench/receiver-process.ts), and Ferry's own:
 * `ferry start` for the embedded default, `ferry api` + `ferry worker` for Redis + Postgres.
 *
 * Modules: options.ts (flags and BENCH_* variables), machine.ts, services.ts (redis-server,
 * Postgres databases), ferry.ts (Ferry processes, peak RSS), phases.ts (one measured phase),
 * scenarios.ts (what each throughput run does), isolation.ts (the isolation scenario), events.ts
 * and events-data.ts (the events scenario and the events it stores), rate-limit.ts and
 * fairness.ts (issue 14's, on accounts made by accounts.ts, queued first by queued-first.ts), report.ts
 * (JSON shape, targets, Markdown), charts.ts (the SVG charts), reference.ts (--check and
 * --record against docs/benchmarks.md), stats.ts.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, relative, sep } from "node:path";
import { loadConfig } from "../src/config.js";
import { forkHelper } from "./children.js";
import { describeMachine } from "./machine.js";
import { parseOptions, PER_BACKEND, ROOT, type BackendName, type Options } from "./options.js";
import { benchCharts } from "./charts.js";
import { compare, comparisonTable, failed, figuresOf, parseReference, replaceReference, TOLERANCE, type Reference } from "./reference.js";
import { Progress } from "./progress.js";
import type { FromLoad, FromReceiver, ToLoad, ToReceiver } from "./protocol.js";
import { checkTargets, markdown, type BenchResult } from "./report.js";
import { backend, cleanupDirs, DATA_OBJECT, direct, endpoint, type Context } from "./scenarios.js";
import { DESTINATIONS, isolation } from "./isolation.js";
import { startServices, unavailable, type Services } from "./services.js";
import { BENCH_LOG_LEVEL, ferryEnv } from "./ferry.js";
import { EVENT_QUERY_KINDS, eventsScenario } from "./events.js";
import { EventData } from "./events-data.js";
import { rateLimitScenario } from "./rate-limit.js";
import { fairnessScenario } from "./fairness.js";

async function main(): Promise<number> {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    return 2;
  }
  const startedAt = new Date();
  const machine = describeMachine(ROOT);
  const progress = new Progress();

  const skipped: Record<string, string> = {};
  let backends: BackendName[];
  const throughputInline = options.scenarios.includes("throughput");
  const throughputDestinations = options.scenarios.includes("throughput-destinations");
  // Either variant runs the direct baseline it is compared with.
  const throughput = throughputInline || throughputDestinations;
  const eventsRun = options.scenarios.includes("events");
  // The throughput, events, rate-limit and fairness scenarios run on each backend; isolation on embedded alone.
  const perBackend = options.scenarios.some((s) => PER_BACKEND.includes(s));
  const why = perBackend ? await unavailable() : undefined;
  if (!perBackend) {
    backends = [];
  } else if (options.backends === "auto") {
    backends = why ? ["embedded"] : ["embedded", "redis-postgres"];
    if (why) skipped["redis-postgres"] = why;
  } else {
    backends = options.backends;
    if (why && backends.includes("redis-postgres")) {
      process.stderr.write(`bench: redis-postgres asked for, but ${why}\n`);
      return 2;
    }
  }

  const receiver = forkHelper<ToReceiver, FromReceiver>("./receiver-process.js", "receiver");
  const load = forkHelper<ToLoad, FromLoad>("./load-process.js", "load generator");
  let services: Services | undefined;
  const ctx: Context = {
    options,
    helpers: { receiver, load, progress, stallSeconds: options.stallSeconds },
    receiverUrl: "",
    services: undefined,
    running: new Set(),
    dirs: [],
  };
  const cleanup = async () => {
    for (const p of ctx.running) await p.stop().catch(() => {});
    await receiver.stop();
    await load.stop();
    await services?.close().catch(() => {});
    cleanupDirs(ctx);
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}; stopping everything it started\n`);
      void cleanup().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
    });
  }

  try {
    const { port } = await receiver.next("ready");
    ctx.receiverUrl = `http://127.0.0.1:${port}`;
    if (backends.includes("redis-postgres")) {
      services = await startServices(options.redisAppendfsync);
      ctx.services = services;
    }
    progress.note(
      `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; ` +
        `backends: ${backends.join(", ") || "—"}; ` +
        (throughput
          ? `${options.requests} requests × ${options.perRequest}, ${options.concurrency} in flight${options.backlog ? `; backlog ${options.backlog}` : ""}`
          : "throughput scenario skipped") +
        (eventsRun
          ? `; events: ${options.events.toLocaleString("en-US")} in batches of ${options.eventsBatch}, ${options.eventsConcurrency} in flight, ${options.eventQueries} queries of each kind`
          : "; events scenario skipped") +
        (options.scenarios.includes("isolation")
          ? `; isolation: ${options.isolationRounds} × (A, B) of ${options.isolationRequests} requests × ${options.perRequest} to ${DESTINATIONS} destinations, FERRY_TIMEOUT_MS=${options.isolationTimeoutMs}`
          : "; isolation scenario skipped") +
        (options.scenarios.includes("isolation-slow") ? `; isolation-slow: the healthy answer in ${options.isolationAnswerMs} ms` : "") +
        (options.scenarios.includes("rate-limit") ? `; rate-limit: ${options.rateLimit}/s, burst 1, ${options.rateLimit * options.rateLimitSeconds} postbacks` : "") +
        (options.scenarios.includes("fairness")
          ? `; fairness: A's backlog ${options.fairnessBacklog.toLocaleString("en-US")}, B ${options.fairnessRate}/s for ${options.fairnessSeconds} s`
          : ""),
    );

    const base = throughput ? await direct(ctx) : null;
    const results = [];
    if (throughputInline) for (const name of backends) results.push(await backend(ctx, name, base!.postbacks_per_s));
    const viaDestinations = throughputDestinations ? await inTurn(backends, (b) => backend(ctx, b, base!.postbacks_per_s, "destinations")) : null;
    const iso = options.scenarios.includes("isolation") ? await isolation(ctx) : null;
    const isoSlow = options.scenarios.includes("isolation-slow") ? await isolation(ctx, options.isolationAnswerMs) : null;
    const events = eventsRun ? await eventsScenario(ctx, backends) : null;
    const rateLimit = options.scenarios.includes("rate-limit") ? await inTurn(backends, (b) => rateLimitScenario(ctx, b)) : null;
    const fairness = options.scenarios.includes("fairness") ? await inTurn(backends, (b) => fairnessScenario(ctx, b)) : null;

    // The settings Ferry's processes ran with, as Ferry itself reads them.
    const ferry = loadConfig(ferryEnv({ FERRY_ADMIN_TOKEN: "x".repeat(16) }));
    const finishedAt = new Date();
    const partial: Omit<BenchResult, "targets"> = {
      bench_version: 2,
      started_at: startedAt.toISOString(),
      finished_at: finishedAt.toISOString(),
      seconds: Math.round((finishedAt.getTime() - startedAt.getTime()) / 100) / 10,
      command: commandLine(),
      machine: { ...machine, load_average_at_end: Math.round(loadavg()[0]! * 100) / 100 },
      config: {
        scenarios: options.scenarios,
        smoke: options.smoke,
        requests: options.requests,
        data_objects_per_request: options.perRequest,
        postbacks: options.requests * options.perRequest,
        concurrency: options.concurrency,
        backends: throughput ? backends : [],
        skipped_backends: skipped,
        backlog: options.backlog,
        half_rate: options.halfRate,
        isolation_answer_ms: options.isolationAnswerMs,
        rate_limit: { rate_limit: options.rateLimit, seconds: options.rateLimitSeconds },
        fairness: { backlog: options.fairnessBacklog, quiet_per_s: options.fairnessRate, quiet_seconds: options.fairnessSeconds },
        endpoint: endpoint(ctx),
        data_object: DATA_OBJECT,
        data_object_bytes: Buffer.byteLength(JSON.stringify(DATA_OBJECT)),
        ferry_settings: {
          FERRY_CONCURRENCY: ferry.concurrency,
          FERRY_ORIGIN_CONCURRENCY: ferry.origin_concurrency,
          FERRY_SQLITE_SYNCHRONOUS: ferry.sqlite_synchronous,
          FERRY_POLL_INTERVAL_MS: ferry.poll_interval_ms,
          FERRY_TIMEOUT_MS: ferry.timeout_ms,
          FERRY_LOG_LEVEL: BENCH_LOG_LEVEL ?? "info (the default)",
        },
        ferry_node_args: options.ferryNodeArgs,
        load_client: options.loadClient,
        redis: services ? { version: services.redisVersion, appendfsync: options.redisAppendfsync } : null,
        postgres: services ? { version: services.postgresVersion } : null,
        ingest_latency: "load generator: send → complete 202 (open loop: from the scheduled send time)",
        delivery_latency: "receiver: receive time − the creation time in the webhook-id's ULID (made at ingest, just before the enqueue commits); 1 ms resolution",
        half_rate_definition: "open loop, requests sent on a fixed schedule at half the closed-loop end-to-end postbacks/s of the same backend (its maximum rate), whatever the answers do",
      },
      direct: base,
      backends: results,
      throughput_destinations: viaDestinations,
      charts: [],
      isolation: iso,
      isolation_slow: isoSlow,
      rate_limit: rateLimit,
      fairness,
      events: events
        ? {
            events: options.events,
            sessions: new EventData(options.events).sessions,
            batch: options.eventsBatch,
            concurrency: options.eventsConcurrency,
            queries_per_kind: options.eventQueries,
            data: "one account; events ÷ 50 sessions of 50 events over 30 days from 2024-01-01, each session within about an hour; 20 categories, 5 names, ~60 bytes of data (bench/events-data.ts)",
            query_kinds: EVENT_QUERY_KINDS,
            destinations: "none: stored events fan out to nothing (the outbox is still read and marked); no worker runs",
            backends: events,
          }
        : null,
    };
    const result: BenchResult = { ...partial, targets: checkTargets(partial) };
    mkdirSync(options.outDir, { recursive: true });
    const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
    const chartsDir = options.chartsDir ?? options.outDir;
    mkdirSync(chartsDir, { recursive: true });
    for (const c of benchCharts(result)) {
      const file = join(chartsDir, options.chartsDir ? `${c.name}.svg` : `${stamp}-${c.name}.svg`);
      writeFileSync(file, c.svg);
      result.charts.push({ title: c.title, path: relative(options.outDir, file).split(sep).join("/") });
    }
    const md = markdown(result);
    const jsonPath = join(options.outDir, `${stamp}.json`);
    writeFileSync(jsonPath, JSON.stringify(result, null, 2) + "\n");
    writeFileSync(join(options.outDir, `${stamp}.md`), md);
    process.stdout.write("\n" + md);
    const shown = relative(process.cwd(), jsonPath);
    progress.note(`wrote ${shown.startsWith("..") ? jsonPath : shown} and .md${result.charts.length ? `, charts in ${relative(process.cwd(), chartsDir).startsWith("..") ? chartsDir : relative(process.cwd(), chartsDir) || "."}` : ""}`);
    return referenceStep(options, result);
  } catch (err) {
    process.stderr.write(`\nbench: ${(err as Error).stack ?? (err as Error).message}\n`);
    return 1;
  } finally {
    await cleanup();
  }
}

/** --check: compare with docs/benchmarks.md's reference figures (exit 1 when worse); --record: rewrite them. */
function referenceStep(options: Options, result: BenchResult): number {
  if (!options.check && !options.record) return 0;
  const now = figuresOf(result);
  const docs = readFileSync(options.referenceFile, "utf8");
  if (options.record) {
    const ref: Reference = {
      machine: `${result.machine.cpu}, ${result.machine.cores} cores, ${result.machine.memory_gib} GiB, Node ${result.machine.node}`,
      commit: result.machine.commit,
      date: result.started_at.slice(0, 10),
      note: `${result.command}; load average ${result.machine.load_average_at_start} at start, ${result.machine.load_average_at_end} at end`,
      figures: now,
    };
    writeFileSync(options.referenceFile, replaceReference(docs, ref));
    process.stdout.write(`\nbench --record: ${Object.keys(now).length} reference figures written to ${relative(process.cwd(), options.referenceFile)}\n`);
    return 0;
  }
  const ref = parseReference(docs);
  const rows = compare(ref.figures, now);
  process.stdout.write(`\n## Check against the reference (${ref.machine}, commit ${ref.commit}, ${ref.date}; worse by more than ${TOLERANCE * 100}% fails)\n\n${comparisonTable(rows)}\n`);
  const bad = failed(rows);
  if (bad.length) {
    process.stderr.write(`\nbench --check: ${bad.length} figure(s) more than ${TOLERANCE * 100}% worse than the reference: ${bad.map((r) => r.figure).join(", ")}\n`);
    return 1;
  }
  process.stdout.write(`\nbench --check: no figure more than ${TOLERANCE * 100}% worse than the reference\n`);
  return 0;
}

/** `run` on each backend, one after the other (never side by side: they share the two cores). */
async function inTurn<T>(backends: BackendName[], run: (b: BackendName) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (const b of backends) out.push(await run(b));
  return out;
}

function commandLine(): string {
  const vars = Object.entries(process.env)
    .filter(([k]) => k.startsWith("BENCH_") || (k.startsWith("FERRY_") && !/URL|TOKEN/.test(k)))
    .map(([k, v]) => `${k}=${JSON.stringify(v).slice(1, -1).includes(" ") ? JSON.stringify(v) : v}`);
  return [...vars, "node dist/bench/pipeline.js", ...process.argv.slice(2)].join(" ");
}

process.exit(await main());
