/**
 * The bench's results: their JSON shape, the throughput and wire-size targets (and the
 * isolation target) checked against them, and the Markdown report printed to stdout and written beside
 * the JSON.
 */
import type { Machine } from "./machine.js";
import type { BackendName, ScenarioName } from "./options.js";
import type { Summary } from "./stats.js";
import type { Timeline } from "./protocol.js";
import type { EventsBackendResult } from "./events.js";
import { FAIRNESS_P99_MS, type FairnessResult } from "./fairness.js";
import type { RateLimitResult } from "./rate-limit.js";

export interface EndToEnd {
  postbacks: number;
  /** First ingest request sent → last postback received. */
  seconds: number;
  postbacks_per_s: number;
}

/** Where the cores went during a phase. */
export interface CpuUse {
  /** CPU ms (user + system) per 1,000 postbacks, by process. */
  ms_per_1000_postbacks: Record<string, number>;
  total_ms_per_1000_postbacks: number;
  /** Total CPU time ÷ the phase's wall time: cores busy on average. */
  cores_busy: number;
}

export interface BackendResult {
  name: BackendName;
  /** The Ferry processes, e.g. ["ferry start"] or ["ferry api", "ferry worker"]. */
  processes: string[];
  end_to_end: EndToEnd & { ratio_to_direct: number };
  ingest_requests_per_s: number;
  ingest_latency_ms: Summary;
  delivery_latency_ms: Summary;
  /** Over the closed-loop phase. */
  cpu: CpuUse;
  /** The closed-loop phase in 100 ms buckets from its first postback: delivered, enqueue→delivery p50 / p99 (the charts). */
  timeline: Timeline;
  half_rate: null | {
    offered_requests_per_s: number;
    offered_postbacks_per_s: number;
    end_to_end: EndToEnd;
    /** From each request's scheduled send time to its 202. */
    ingest_latency_ms: Summary;
    delivery_latency_ms: Summary;
  };
  /** Redis traffic (INFO total_net_input_bytes + total_net_output_bytes) over the closed-loop phase. */
  redis: null | {
    bytes_per_postback: number;
    input_bytes_per_postback: number;
    output_bytes_per_postback: number;
    data_object_bytes: number;
  };
  /** VmHWM of each Ferry process over the warm-up, closed-loop and half-rate phases. */
  peak_rss_mib: Record<string, number | null>;
  backlog: null | {
    postbacks: number;
    fill: { seconds: number; postbacks_per_s: number; ingest_latency_ms: Summary };
    drain: {
      /** First postback received → last, once the worker started on a full queue. */
      seconds: number;
      postbacks_per_s: number;
      /** Drain postbacks/s ÷ the closed-loop end-to-end postbacks/s of the same backend. */
      ratio_to_empty_queue: number;
      /** Worker process start → last postback received. */
      seconds_from_worker_start: number;
    };
    /** The process that drained: ferry start (embedded) or ferry worker. */
    worker: string;
    /** Over the drain. */
    cpu: CpuUse;
    peak_rss_mib: Record<string, number | null>;
    redis_used_memory_mib: number | null;
    redis_bytes_per_postback: number | null;
  };
}

/** One destination of an isolation run: what its port had received when the nine's last postback came. */
export interface IsolationDestination {
  /** 1–10; 10 is the one that hangs in run B. */
  destination: number;
  port: number;
  state: "healthy" | "hanging";
  /** Distinct postbacks: delivered (healthy), or attempted and held unanswered (hanging). */
  postbacks: number;
  /** Requests, repeats included: on the hanging port, the attempts Ferry made there. */
  requests: number;
  /** First ingest request sent → this destination's last new postback; null when it got none. */
  seconds_to_last: number | null;
}

/** One run of the isolation scenario: a fresh `ferry start`, a warm-up, then the measured load. */
export interface IsolationRun {
  /** 1-minute load average as the run began: what else the machine was doing. */
  load_average_at_start: number;
  /** The nine healthy destinations' postbacks ÷ (first ingest request sent → last of the nine's postbacks received). */
  healthy: EndToEnd;
  ingest_requests_per_s: number;
  ingest_latency_ms: Summary;
  /** Of the nine's postbacks. */
  delivery_latency_ms: Summary;
  destinations: IsolationDestination[];
  /** Over the measured phase. */
  cpu: CpuUse;
  peak_rss_mib: Record<string, number | null>;
}

/** One A run and one B run, back to back. */
export interface IsolationRound {
  order: "A, B" | "B, A";
  /** B ÷ A of this round. */
  ratio: number;
  all_healthy: IsolationRun;
  one_hanging: IsolationRun;
}

export interface IsolationResult {
  backend: "embedded";
  processes: string[];
  destinations: number;
  /** The destination that hangs in run B (accepts each request, never answers). */
  hanging_destination: number;
  /** FERRY_TIMEOUT_MS of both runs' Ferry process: how long each attempt to the hanging destination lasts. */
  ferry_timeout_ms: number;
  /** How long the healthy destinations take to answer: 0 (at once), or the slow variant's --isolation-answer-ms. */
  healthy_answer_ms: number;
  /** Ingest requests per run, all destinations together; each carries `data_objects_per_request` postbacks to one destination. */
  requests: number;
  data_objects_per_request: number;
  postbacks_per_destination: number;
  /** Ingest requests in flight (closed loop). */
  concurrency: number;
  load: string;
  throughput_definition: string;
  /** Every round, in the order run. */
  rounds: IsolationRound[];
  /** The round whose ratio is the median (the lower middle one when even), 1-based. */
  median_round: number;
  /** Run A of the median round (as in `rounds`): all ten answer 200 at once. */
  all_healthy: IsolationRun;
  /** Run B of the median round (as in `rounds`): the same load; destination 10 hangs until Ferry's timeout. */
  one_hanging: IsolationRun;
  /** The median over the rounds of B's healthy postbacks/s ÷ A's. */
  ratio: number;
}

export interface EventsResult {
  /** Events stored per backend. */
  events: number;
  sessions: number;
  /** Events per POST /v1/events. */
  batch: number;
  /** POST /v1/events requests in flight. */
  concurrency: number;
  queries_per_kind: number;
  data: string;
  /** What each kind of query is. */
  query_kinds: Record<string, string>;
  destinations: string;
  backends: EventsBackendResult[];
}

export interface Target {
  id:
    | "end_to_end_ratio" | "backlog_worker_rss" | "backlog_drain_ratio" | "ingest_p99_half_rate" | "isolation_ratio" | "events_session_p99" | "events_category_hour_p99"
    | "isolation_slow_ratio" | "rate_limit_ratio" | "fairness_quiet_p99";
  backend: BackendName;
  description: string;
  target: string;
  measured: number | null;
  unit: string;
  /** null: not measured in this run. */
  met: boolean | null;
  /** How far from the target, when missed. */
  missed_by: string | null;
  note: string | null;
}

export interface BenchResult {
  /** 2: scenarios; `direct` null when the throughput scenario did not run; `isolation`. */
  bench_version: 2;
  started_at: string;
  finished_at: string;
  seconds: number;
  command: string;
  machine: Machine & { load_average_at_end: number };
  config: {
    scenarios: ScenarioName[];
    smoke: boolean;
    requests: number;
    data_objects_per_request: number;
    postbacks: number;
    concurrency: number;
    backends: BackendName[];
    skipped_backends: Record<string, string>;
    backlog: number;
    half_rate: boolean;
    /** The issue-14 scenarios' settings (what ran only if the scenario is in `scenarios`). */
    isolation_answer_ms: number;
    rate_limit: { rate_limit: number; seconds: number };
    fairness: { backlog: number; quiet_per_s: number; quiet_seconds: number };
    endpoint: { method: string; url: string };
    data_object: Record<string, unknown>;
    data_object_bytes: number;
    ferry_settings: Record<string, string | number | boolean>;
    ferry_node_args: string[];
    /** What sent the ingest requests and event batches: undici's request(), or @ferry/client. */
    load_client: "undici" | "client";
    redis: null | { version: string; appendfsync: string };
    postgres: null | { version: string };
    ingest_latency: string;
    delivery_latency: string;
    half_rate_definition: string;
  };
  /** The throughput scenario; null (and no backends) when it did not run. */
  direct: null | (EndToEnd & { latency_ms: Summary; cpu: CpuUse; timeline: Timeline });
  backends: BackendResult[];
  /** The throughput-destinations scenario: the same load through an account's destination (POST /v1/push); null when it did not run. */
  throughput_destinations: BackendResult[] | null;
  /** The SVG charts written beside the report: file paths relative to the report's folder. */
  charts: Array<{ title: string; path: string }>;
  /** The isolation scenario; null when it did not run. */
  isolation: IsolationResult | null;
  /** The isolation-slow scenario (issue 14): the healthy destinations answer after healthy_answer_ms. */
  isolation_slow: IsolationResult | null;
  /** The rate-limit scenario (issue 14), per backend; null when it did not run. */
  rate_limit: RateLimitResult[] | null;
  /** The fairness scenario (issue 14), per backend; null when it did not run. */
  fairness: FairnessResult[] | null;
  /** The events scenario (issue 10); null when it did not run. */
  events: EventsResult | null;
  targets: Target[];
}

const BACKLOG_TARGET = 1_000_000;

export function checkTargets(r: Omit<BenchResult, "targets">): Target[] {
  const out: Target[] = [];
  const below = (measured: number, target: number, digits = 2) =>
    `${Math.round((1 - measured / target) * 100)}% below target (${measured.toFixed(digits)} vs ${target.toFixed(digits)})`;
  const above = (measured: number, target: number, unit: string) =>
    `${Math.round((measured / target - 1) * 100)}% over target (${measured} ${unit} vs < ${target} ${unit})`;
  for (const b of r.backends) {
    const ratio = b.end_to_end.ratio_to_direct;
    out.push({
      id: "end_to_end_ratio", backend: b.name, description: "end to end ≥ 60% of the direct baseline",
      target: "≥ 0.60", measured: ratio, unit: "× direct", met: ratio >= 0.6, missed_by: ratio >= 0.6 ? null : below(ratio, 0.6), note: null,
    });
    const bl = b.backlog;
    const small = bl && bl.postbacks < BACKLOG_TARGET ? `measured on a backlog of ${bl.postbacks.toLocaleString("en-US")} postbacks, not ${BACKLOG_TARGET.toLocaleString("en-US")}` : null;
    const notRun = `not measured: run with --backlog ${BACKLOG_TARGET}`;
    const rss = bl?.peak_rss_mib[bl.worker] ?? null;
    // 300 MB = 300,000,000 bytes = 286.1 MiB; RSS is reported in MiB.
    const limit = Math.round((300e6 / 2 ** 20) * 10) / 10;
    out.push({
      id: "backlog_worker_rss", backend: b.name, description: "worker RSS under 300 MB while a 1,000,000-postback backlog drains",
      target: `< 300 MB (${limit} MiB)`, measured: rss, unit: "MiB",
      met: rss === null ? null : rss < limit, missed_by: rss === null || rss < limit ? null : above(rss, limit, "MiB"), note: bl ? small : notRun,
    });
    const drain = bl?.drain.ratio_to_empty_queue ?? null;
    out.push({
      id: "backlog_drain_ratio", backend: b.name, description: "backlog drain throughput within 20% of the empty-queue figure",
      target: "≥ 0.80", measured: drain, unit: "× empty-queue postbacks/s",
      met: drain === null ? null : drain >= 0.8, missed_by: drain === null || drain >= 0.8 ? null : below(drain, 0.8), note: bl ? small : notRun,
    });
    const p99 = b.half_rate?.ingest_latency_ms.p99 ?? null;
    out.push({
      id: "ingest_p99_half_rate", backend: b.name, description: "ingest p99 under 20 ms at half of the maximum rate",
      target: "< 20 ms", measured: p99, unit: "ms",
      met: p99 === null ? null : p99 < 20, missed_by: p99 === null || p99 < 20 ? null : above(p99, 20, "ms"),
      note: p99 === null ? "not measured: the half-rate phase was skipped" : null,
    });
  }
  for (const b of r.events?.backends ?? []) {
    const small = r.events!.events < 1_000_000 ? `on ${r.events!.events.toLocaleString("en-US")} stored events, not 1,000,000` : null;
    const viaStore = (kinds: string[]) => `store alone: ${kinds.map((k) => `${k} p99 ${b.store[k]?.p99 ?? "—"} ms`).join(", ")}`;
    // A session's events come back two ways (its view, and a listing by session_id): the slower one counts.
    const session = Math.max(b.api["session_view"]?.p99 ?? NaN, b.api["session_events"]?.p99 ?? NaN);
    out.push({
      id: "events_session_p99", backend: b.name,
      description: "one session's events over HTTP (the slower of GET /v1/sessions/{id} and GET /v1/events?session_id=), p99",
      target: "< 10 ms", measured: Number.isNaN(session) ? null : session, unit: "ms",
      met: Number.isNaN(session) ? null : session < 10, missed_by: session < 10 || Number.isNaN(session) ? null : above(session, 10, "ms"),
      note: [small, viaStore(["session_view", "session_events"])].filter(Boolean).join("; "),
    });
    const hour = b.api["category_hour"]?.p99 ?? null;
    out.push({
      id: "events_category_hour_p99", backend: b.name,
      description: "one category over one hour over HTTP (GET /v1/events?category=&from=&to=), p99",
      target: "< 50 ms", measured: hour, unit: "ms",
      met: hour === null ? null : hour < 50, missed_by: hour === null || hour < 50 ? null : above(hour, 50, "ms"),
      note: [small, viaStore(["category_hour"])].filter(Boolean).join("; "),
    });
  }
  for (const iso of [r.isolation, r.isolation_slow]) {
    if (!iso) continue;
    const ratio = iso.ratio;
    const b = iso.one_hanging.healthy;
    const notes: string[] = [];
    if (r.config.smoke) notes.push("smoke run");
    if (iso.rounds.length > 1) notes.push(`median of ${iso.rounds.length} rounds: ${iso.rounds.map((x) => x.ratio.toFixed(2)).join(", ")}`);
    if (b.seconds * 1000 < iso.ferry_timeout_ms) {
      notes.push(`run B lasted ${b.seconds} s, less than FERRY_TIMEOUT_MS=${iso.ferry_timeout_ms}: no attempt to the hanging destination timed out within it`);
    }
    const slow = iso.healthy_answer_ms > 0;
    out.push({
      id: slow ? "isolation_slow_ratio" : "isolation_ratio", backend: iso.backend,
      description:
        `one of ${iso.destinations} destinations hanging (FERRY_TIMEOUT_MS=${iso.ferry_timeout_ms})${slow ? `, the others answering in ${iso.healthy_answer_ms} ms` : ""}: ` +
        `the other ${iso.destinations - 1} keep ≥ 80% of their all-healthy postbacks/s`,
      target: "≥ 0.80", measured: ratio, unit: "× all-healthy postbacks/s",
      met: ratio >= 0.8, missed_by: ratio >= 0.8 ? null : below(ratio, 0.8),
      note: notes.length ? notes.join("; ") : null,
    });
  }
  for (const x of r.rate_limit ?? []) {
    const ok = x.ratio >= 0.9 && x.ratio <= 1.1;
    out.push({
      id: "rate_limit_ratio", backend: x.name,
      description: `a destination with rate_limit ${x.rate_limit}/s, burst ${x.rate_limit_burst ?? 1}, drained by ${x.processes.join(" + ")}: the partner's steady rate within ±10% of the limit`,
      target: "0.90 – 1.10", measured: x.ratio, unit: "× rate_limit",
      met: ok, missed_by: ok ? null : `${Math.round(Math.abs(x.ratio - 1) * 100)}% ${x.ratio > 1 ? "over" : "under"} the limit (${x.steady.per_s}/s vs ${x.rate_limit}/s)`,
      note: `max ${x.max_per_second} in one second${r.config.smoke ? "; smoke run" : ""}`,
    });
  }
  for (const x of r.fairness ?? []) {
    const p99 = x.quiet.delivery_latency_ms.p99;
    const ok = p99 < FAIRNESS_P99_MS;
    out.push({
      id: "fairness_quiet_p99", backend: x.name,
      description: `a quiet account's enqueue→delivery p99 while a noisy one's ${x.noisy.backlog.toLocaleString("en-US")}-postback backlog drains`,
      target: `< ${FAIRNESS_P99_MS} ms`, measured: p99, unit: "ms",
      met: ok, missed_by: ok ? null : above(p99, FAIRNESS_P99_MS, "ms"),
      note: `the noisy account drained at ${x.noisy.drain.postbacks_per_s.toLocaleString("en-US")} postbacks/s${r.config.smoke ? "; smoke run" : ""}`,
    });
  }
  return out;
}

const n0 = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? "—" : Math.round(x).toLocaleString("en-US"));
const ms = (s: Summary | undefined) => (s ? `${s.p50} / ${s.p99} ms` : "—");
const cpuCell = (c: CpuUse) =>
  `${n0(c.total_ms_per_1000_postbacks)} (${c.cores_busy}): ` +
  Object.entries(c.ms_per_1000_postbacks).map(([p, v]) => `${p} ${n0(v)}`).join(", ");
const mib = (x: number | null | undefined) => (x === null || x === undefined ? "n/a" : `${x} MiB`);

export function markdown(r: BenchResult): string {
  const m = r.machine;
  const c = r.config;
  const settings = Object.entries(c.ferry_settings).map(([k, v]) => `${k}=${v}`).join(", ");
  const lines: Array<string | null> = [
    `# Ferry benchmark, ${r.started_at.slice(0, 16).replace("T", " ")} UTC${c.smoke ? " (smoke run: figures mean nothing)" : ""}`,
    "",
    `- **Machine:** ${m.cpu}, ${m.cores} cores, ${m.memory_gib} GiB, ${m.os}, Node ${m.node}; load average ${m.load_average_at_start} at start, ${m.load_average_at_end} at end`,
    `- **Commit:** ${m.commit}`,
    `- **Command:** \`${r.command}\``,
    `- **Scenarios:** ${c.scenarios.join(", ")}`,
    `- **Ferry:** ${settings}${c.ferry_node_args.length ? `; node ${c.ferry_node_args.join(" ")}` : ""}`,
    `- **Load generator sends with:** ${c.load_client === "client" ? "@ferry/client (fetch, bodies serialized per request)" : "undici request(), bodies serialized once"}`,
  ];
  if (r.direct && r.backends.length) lines.push(...throughputSection(r, r.direct, r.backends, "## Throughput"));
  if (r.direct && r.throughput_destinations) {
    lines.push(...throughputSection(r, r.direct, r.throughput_destinations, "## Throughput through a destination (issue 16)", [
      "- **Path:** an account and one destination at the receiver (GET, the same URL template; a signing secret, as every destination has), made through the API; POST /v1/push with the account's token, the same data objects per request. No backlog phase.",
    ]));
  }
  if (r.charts.length) {
    lines.push("", "## Charts", "");
    for (const c of r.charts) lines.push(`![${c.title}](${c.path})`, "");
  }
  if (r.isolation) lines.push(...isolationSection(r.isolation));
  if (r.isolation_slow) lines.push(...isolationSection(r.isolation_slow));
  if (r.events) lines.push(...eventsSection(r, r.events));
  if (r.rate_limit) lines.push(...rateLimitSection(r.rate_limit));
  if (r.fairness) lines.push(...fairnessSection(r.fairness));
  if (r.targets.length) {
    lines.push("", "| target | backend | measured | result |", "|---|---|---|---|");
    for (const t of r.targets) {
      const measured = t.measured === null ? "—" : `${t.measured} ${t.unit}`;
      const result = t.met === null ? t.note ?? "not measured" : t.met ? `met${t.note ? ` (${t.note})` : ""}` : `**missed**: ${t.missed_by}${t.note ? ` (${t.note})` : ""}`;
      lines.push(`| ${t.description} (${t.target}) | ${t.backend} | ${measured} | ${result} |`);
    }
  }
  return lines.filter((l) => l !== null).join("\n") + "\n";
}

function throughputSection(r: BenchResult, direct: NonNullable<BenchResult["direct"]>, cols: BackendResult[], heading: string, notes: string[] = []): Array<string | null> {
  const c = r.config;
  const label = (b: BackendResult) => `${b.name} (${b.processes.join(" + ")})`;
  const row = (name: string, base: string, cell: (b: BackendResult) => string) => `| ${name} | ${base} | ${cols.map(cell).join(" | ")} |`;
  const lines: Array<string | null> = [
    "",
    heading,
    "",
    ...notes,
    `- **Load:** ${c.requests.toLocaleString("en-US")} ingest requests × ${c.data_objects_per_request} data objects = ${c.postbacks.toLocaleString("en-US")} postbacks, ${c.concurrency} in flight (the direct baseline: ${c.concurrency} connections, ${c.concurrency} in flight)`,
    `- **Endpoint:** ${c.endpoint.method} \`${c.endpoint.url}\`; data object \`${JSON.stringify(c.data_object)}\` (${c.data_object_bytes} bytes of JSON)`,
    c.redis ? `- **Redis** ${c.redis.version}, appendfsync ${c.redis.appendfsync}; **Postgres** ${c.postgres?.version ?? "?"}` : null,
    ...Object.entries(c.skipped_backends).map(([b, why]) => `- **Skipped ${b}:** ${why}`),
    `- **Latencies:** ingest: ${c.ingest_latency}; enqueue→delivery: ${c.delivery_latency}`,
    c.half_rate ? `- **Half rate:** ${c.half_rate_definition}` : null,
    "",
    `| | direct baseline | ${cols.map(label).join(" | ")} |`,
    `|---|---|${cols.map(() => "---|").join("")}`,
    row("postbacks/s, end to end", n0(direct.postbacks_per_s), (b) => n0(b.end_to_end.postbacks_per_s)),
    row("Ferry / direct", "1", (b) => b.end_to_end.ratio_to_direct.toFixed(2)),
    row("ingest requests/s (closed loop)", "—", (b) => n0(b.ingest_requests_per_s)),
    row("ingest latency p50 / p99", "—", (b) => ms(b.ingest_latency_ms)),
    row("enqueue→delivery p50 / p99", `${ms(direct.latency_ms)} (send→answer)`, (b) => ms(b.delivery_latency_ms)),
  ];
  if (cols.some((b) => b.half_rate)) {
    lines.push(
      row("half rate: offered postbacks/s", "—", (b) => n0(b.half_rate?.offered_postbacks_per_s)),
      row("half rate: ingest latency p50 / p99", "—", (b) => ms(b.half_rate?.ingest_latency_ms)),
      row("half rate: enqueue→delivery p50 / p99", "—", (b) => ms(b.half_rate?.delivery_latency_ms)),
    );
  }
  lines.push(
    row("Redis bytes per postback (in + out)", "—", (b) =>
      b.redis ? `${n0(b.redis.bytes_per_postback)} (${n0(b.redis.input_bytes_per_postback)} + ${n0(b.redis.output_bytes_per_postback)}; ${(b.redis.bytes_per_postback / b.redis.data_object_bytes).toFixed(1)}× the ${b.redis.data_object_bytes}-byte data object)` : "—"),
    row("CPU ms per 1,000 postbacks (cores busy)", cpuCell(direct.cpu), (b) => cpuCell(b.cpu)),
    row("peak RSS", "—", (b) => Object.entries(b.peak_rss_mib).map(([p, v]) => `${p}: ${mib(v)}`).join(", ")),
  );
  if (cols.some((b) => b.backlog)) {
    lines.push(
      row("backlog: postbacks queued with no worker", "—", (b) => n0(b.backlog?.postbacks)),
      row("backlog: fill, postbacks/s (ingest p50 / p99)", "—", (b) => (b.backlog ? `${n0(b.backlog.fill.postbacks_per_s)} (${ms(b.backlog.fill.ingest_latency_ms)})` : "—")),
      row("backlog: drain, postbacks/s (÷ empty-queue end to end)", "—", (b) => (b.backlog ? `${n0(b.backlog.drain.postbacks_per_s)} (${b.backlog.drain.ratio_to_empty_queue.toFixed(2)})` : "—")),
      row("backlog: drain CPU ms per 1,000 postbacks (cores busy)", "—", (b) => (b.backlog ? cpuCell(b.backlog.cpu) : "—")),
      row("backlog: peak RSS", "—", (b) => (b.backlog ? Object.entries(b.backlog.peak_rss_mib).map(([p, v]) => `${p}: ${mib(v)}`).join(", ") : "—")),
      row("backlog: Redis used memory when full / bytes per postback", "—", (b) =>
        b.backlog?.redis_used_memory_mib != null ? `${b.backlog.redis_used_memory_mib} MiB / ${n0(b.backlog.redis_bytes_per_postback)}` : "—"),
    );
  }
  return lines;
}

function isolationSection(iso: IsolationResult): string[] {
  const runs = [iso.all_healthy, iso.one_hanging];
  const row = (name: string, cell: (run: IsolationRun) => string) => `| ${name} | ${runs.map(cell).join(" | ")} |`;
  const healthy = (run: IsolationRun) => run.destinations.filter((d) => d.state === "healthy" && d.destination !== iso.hanging_destination);
  const spread = (run: IsolationRun) => {
    const s = healthy(run).map((d) => d.seconds_to_last ?? NaN);
    return `${Math.min(...s).toFixed(2)} – ${Math.max(...s).toFixed(2)} s`;
  };
  const tenth = (run: IsolationRun) => {
    const d = run.destinations.find((x) => x.destination === iso.hanging_destination);
    if (!d) return "—";
    return d.state === "hanging"
      ? `hangs: ${n0(d.requests)} attempts accepted and never answered (${n0(d.postbacks)} distinct postbacks)`
      : `healthy: ${n0(d.postbacks)} of ${n0(iso.postbacks_per_destination)} delivered by then`;
  };
  const nine = iso.destinations - 1;
  return [
    "",
    iso.healthy_answer_ms ? `## Isolation, slow healthy partners (${iso.healthy_answer_ms} ms answers)` : "## Isolation",
    "",
    `- **Setup:** ${iso.backend} (${iso.processes.join(" + ")}), a fresh process and data dir per run; ${iso.destinations} destinations = ${iso.destinations} ports of the receiver (${iso.destinations} origins); FERRY_TIMEOUT_MS=${iso.ferry_timeout_ms}; ` +
      (iso.healthy_answer_ms ? `the healthy destinations answer 200 after ${iso.healthy_answer_ms} ms` : "the healthy destinations answer 200 at once"),
    `- **Load:** ${iso.load}`,
    `- **Throughput of the ${nine}:** ${iso.throughput_definition}`,
    `- **Rounds** (one A and one B run back to back, the order alternating; B ÷ A is the median over the rounds): ` +
      iso.rounds
        .map((x, i) => {
          const side = (run: IsolationRun) => `${n0(run.healthy.postbacks_per_s)} (${run.cpu.cores_busy} cores busy)`;
          return `${i + 1} (${x.order}): A ${side(x.all_healthy)}, B ${side(x.one_hanging)} postbacks/s, ${x.ratio.toFixed(2)}`;
        })
        .join("; "),
    "",
    `| ${iso.rounds.length > 1 ? `round ${iso.median_round}, the median` : ""} | run A: all ${iso.destinations} healthy | run B: destination ${iso.hanging_destination} hangs |`,
    "|---|---|---|",
    row(`the ${nine}'s postbacks/s`, (run) => `**${n0(run.healthy.postbacks_per_s)}**`),
    row(`the ${nine}'s postbacks, seconds`, (run) => `${n0(run.healthy.postbacks)} in ${run.healthy.seconds} s`),
    row(`each of the ${nine} done after`, spread),
    row(`the ${nine}'s enqueue→delivery p50 / p99`, (run) => ms(run.delivery_latency_ms)),
    row(`destination ${iso.hanging_destination} when the ${nine} were done`, tenth),
    row("ingest requests/s; latency p50 / p99", (run) => `${n0(run.ingest_requests_per_s)}; ${ms(run.ingest_latency_ms)}`),
    row(`CPU ms per 1,000 of the ${nine}'s postbacks (cores busy)`, (run) => cpuCell(run.cpu)),
    row("peak RSS", (run) => Object.entries(run.peak_rss_mib).map(([p, v]) => `${p}: ${mib(v)}`).join(", ")),
    row("load average as the run began", (run) => String(run.load_average_at_start)),
    `| **B ÷ A**${iso.rounds.length > 1 ? `, median of ${iso.rounds.length} rounds` : ""} (target ≥ 0.80) | | **${iso.ratio.toFixed(2)}** |`,
  ];
}

function eventsSection(r: BenchResult, ev: EventsResult): string[] {
  const cols = ev.backends;
  const label = (b: EventsBackendResult) => `${b.name} (${b.processes.join(" + ")})`;
  const row = (name: string, cell: (b: EventsBackendResult) => string) => `| ${name} | ${cols.map(cell).join(" | ")} |`;
  const q = (s: { p50: number; p95: number; p99: number; rows: number } | undefined) => (s ? `${s.p50} / ${s.p95} / ${s.p99} ms (${s.rows} rows)` : "—");
  const lines = [
    "",
    "## Events (issue 10)",
    "",
    `- **Data:** ${ev.events.toLocaleString("en-US")} events per backend, ${ev.sessions.toLocaleString("en-US")} sessions; ${ev.data}`,
    `- **Ingest:** POST /v1/events, ${ev.batch} events per request, ${ev.concurrency} requests in flight (closed loop), each answered 201; events/s = events ÷ (first request sent → last answer)`,
    `- **Fan-out:** ${ev.destinations}`,
    `- **Queries:** ${ev.queries_per_kind} of each kind, one at a time, after 20 untimed; over HTTP (request sent → answer read and parsed), then with Ferry stopped through the store port (EventStore) in the bench's process`,
    ...Object.entries(ev.query_kinds).map(([k, what]) => `  - \`${k}\`: ${what}`),
    ...Object.entries(r.config.skipped_backends).map(([b, why]) => `- **Skipped ${b}:** ${why}`),
    "",
    `| | ${cols.map(label).join(" | ")} |`,
    `|---|${cols.map(() => "---|").join("")}`,
    row("**ingest, events/s**", (b) => `**${n0(b.ingest.events_per_s)}** (${n0(b.events)} in ${b.ingest.seconds} s)`),
    row("ingest: request (one batch) p50 / p95 / p99", (b) => `${b.ingest.request_latency_ms.p50} / ${b.ingest.request_latency_ms.p95} / ${b.ingest.request_latency_ms.p99} ms`),
    row("ingest: CPU ms per 1,000 events (cores busy)", (b) =>
      `${n0(b.ingest.cpu.total_ms_per_1000_events)} (${b.ingest.cpu.cores_busy}): ` + Object.entries(b.ingest.cpu.ms_per_1000_events).map(([p, v]) => `${p} ${n0(v)}`).join(", ")),
    row("fan-out outbox at the last 201", (b) => n0(b.fanout.left_at_ingest_end)),
    row("fan-out: outbox empty after the last 201", (b) => (b.fanout.seconds_after_ingest === null ? "**not within the wait**" : `${b.fanout.seconds_after_ingest} s`)),
    row("**events/s stored and fanned out** (first request → outbox empty)", (b) => `**${n0(b.fanout.events_per_s_through_fanout)}**`),
    row("fan-out drain: CPU ms per 1,000 events", (b) => Object.entries(b.fanout.cpu_ms_per_1000_events).map(([p, v]) => `${p} ${n0(v)}`).join(", ") || "—"),
    row("left on the fan-out outbox when Ferry stopped", (b) => n0(b.outbox_left)),
    row("storage after ingest", (b) => `${b.storage_mib} MiB`),
    row("peak RSS", (b) => Object.entries(b.peak_rss_mib).map(([p, v]) => `${p}: ${mib(v)}`).join(", ")),
    row("load average as ingest / the HTTP queries began", (b) => `${b.load_average.ingest} / ${b.load_average.queries}`),
  ];
  if (cols.some((b) => b.name !== "embedded")) {
    lines.push(row("Postgres statistics before the queries", (b) => {
      const a = b.postgres_analyze;
      if (!a) return "—";
      return `autovacuum ${a.autovacuum}; ${a.last_autoanalyze ? `autovacuum analyzed events at ${a.last_autoanalyze}` : a.bench_ran_analyze ? "the bench ran ANALYZE (as autovacuum would have)" : "no ANALYZE yet"}`;
    }));
  }
  for (const k of Object.keys(ev.query_kinds)) {
    lines.push(row(`\`${k}\` over HTTP, p50 / p95 / p99`, (b) => q(b.api[k])));
    lines.push(row(`\`${k}\` through the store, p50 / p95 / p99`, (b) => q(b.store[k])));
  }
  return lines;
}

/** A table with a column per backend: its header, and how a row is made. */
function backendColumns<T extends { name: BackendName; processes: string[] }>(xs: T[]): { header: string[]; row: (name: string, cell: (x: T) => string) => string } {
  return {
    header: [`| | ${xs.map((x) => `${x.name} (${x.processes.join(" + ")})`).join(" | ")} |`, `|---|${xs.map(() => "---|").join("")}`],
    row: (name, cell) => `| ${name} | ${xs.map(cell).join(" | ")} |`,
  };
}

function rateLimitSection(xs: RateLimitResult[]): string[] {
  const { header, row } = backendColumns(xs);
  return [
    "",
    "## Rate limit across workers (issue 14)",
    "",
    "- **Setup:** per backend, an account and one destination (GET to the receiver) with the rate_limit and burst below, made through the API; `ferry api` alone takes the backlog (POST /v1/push, 100 objects each), then the workers start and drain it",
    "- **Steady rate:** arrivals from the first one + 1 s to the last one − 1 s ÷ that window (the workers start one after the other); **max in one second:** 1 s buckets from the first arrival",
    "",
    ...header,
    row("rate_limit, burst", (x) => `${x.rate_limit}/s, ${x.rate_limit_burst ?? "null (1)"}`),
    row("postbacks, first → last arrival", (x) => `${n0(x.postbacks)} in ${x.seconds} s (${x.overall_per_s}/s)`),
    row("**steady rate** (window)", (x) => `**${x.steady.per_s}/s** (${x.steady.postbacks} from ${x.steady.from_s} s to ${x.steady.to_s} s)`),
    row("**steady rate ÷ rate_limit** (target 0.90 – 1.10)", (x) => `**${x.ratio.toFixed(2)}**`),
    row("max in one second", (x) => String(x.max_per_second)),
    row("per second", (x) => x.per_second.join(", ")),
    row("load average as the drain began", (x) => String(x.load_average_at_start)),
  ];
}

function fairnessSection(xs: FairnessResult[]): string[] {
  const { header, row } = backendColumns(xs);
  const lat = (s: Summary) => `${s.p50} / ${s.p99} / ${s.max} ms`;
  return [
    "",
    "## Fairness: a noisy account beside a quiet one (issue 14)",
    "",
    "- **Setup:** per backend, accounts A (noisy) and B (quiet), a destination each (GET, two ports of the receiver), made through the API; `ferry api` alone takes A's backlog (POST /v1/push, 1,000 objects each), then the worker starts; once A's first postback arrived, B pushes one postback at a time, open loop, while A drains",
    "- **B's enqueue→delivery:** receive time − the creation time in the postback's ULID; **A's drain:** A's postbacks ÷ (its first → its last arrival)",
    "",
    ...header,
    row("A's backlog; fill (api alone)", (x) => `${n0(x.noisy.backlog)}; ${x.noisy.fill.seconds} s, ${n0(x.noisy.fill.postbacks_per_s)} postbacks/s`),
    row("**A's drain**", (x) => `**${n0(x.noisy.drain.postbacks_per_s)} postbacks/s** (${x.noisy.drain.seconds} s)`),
    row("B's pushes", (x) => `${n0(x.quiet.postbacks)} at ${x.quiet.offered_per_s}/s; push → 202 p50 / p99 ${ms(x.quiet.ingest_latency_ms)}`),
    row(`**B's enqueue→delivery p50 / p99 / max** (target p99 < ${FAIRNESS_P99_MS} ms)`, (x) => `**${lat(x.quiet.delivery_latency_ms)}**`),
    row("after A's first arrival: B's first, B's last, A's last", (x) => `${x.quiet.first_after_s} s, ${x.quiet.last_after_s} s, ${x.noisy.drain.seconds} s`),
    row("load average as the drain began", (x) => String(x.load_average_at_start)),
  ];
}
