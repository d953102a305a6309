/**
 * The bench's results: their JSON shape, the targets of issue 3 checked against them, and the
 * Markdown report printed to stdout and written beside the JSON.
 */
import type { Machine } from "./machine.js";
import type { BackendName } from "./options.js";
import type { Summary } from "./stats.js";

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

export interface Target {
  id: "end_to_end_ratio" | "backlog_worker_rss" | "backlog_drain_ratio" | "ingest_p99_half_rate";
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
  bench_version: 1;
  started_at: string;
  finished_at: string;
  seconds: number;
  command: string;
  machine: Machine & { load_average_at_end: number };
  config: {
    smoke: boolean;
    requests: number;
    data_objects_per_request: number;
    postbacks: number;
    concurrency: number;
    backends: BackendName[];
    skipped_backends: Record<string, string>;
    backlog: number;
    half_rate: boolean;
    endpoint: { method: string; url: string };
    data_object: Record<string, unknown>;
    data_object_bytes: number;
    ferry_settings: Record<string, string | number | boolean>;
    ferry_node_args: string[];
    redis: null | { version: string; appendfsync: string };
    postgres: null | { version: string };
    ingest_latency: string;
    delivery_latency: string;
    half_rate_definition: string;
  };
  direct: EndToEnd & { latency_ms: Summary; cpu: CpuUse };
  backends: BackendResult[];
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
  const cols = r.backends;
  const label = (b: BackendResult) => `${b.name} (${b.processes.join(" + ")})`;
  const row = (name: string, direct: string, cell: (b: BackendResult) => string) => `| ${name} | ${direct} | ${cols.map(cell).join(" | ")} |`;
  const settings = Object.entries(c.ferry_settings).map(([k, v]) => `${k}=${v}`).join(", ");
  const lines: Array<string | null> = [
    `# Ferry benchmark, ${r.started_at.slice(0, 16).replace("T", " ")} UTC${c.smoke ? " (smoke run: figures mean nothing)" : ""}`,
    "",
    `- **Machine:** ${m.cpu}, ${m.cores} cores, ${m.memory_gib} GiB, ${m.os}, Node ${m.node}; load average ${m.load_average_at_start} at start, ${m.load_average_at_end} at end`,
    `- **Commit:** ${m.commit}`,
    `- **Command:** \`${r.command}\``,
    `- **Load:** ${c.requests.toLocaleString("en-US")} ingest requests × ${c.data_objects_per_request} data objects = ${c.postbacks.toLocaleString("en-US")} postbacks, ${c.concurrency} in flight (the direct baseline: ${c.concurrency} connections, ${c.concurrency} in flight)`,
    `- **Endpoint:** ${c.endpoint.method} \`${c.endpoint.url}\`; data object \`${JSON.stringify(c.data_object)}\` (${c.data_object_bytes} bytes of JSON)`,
    `- **Ferry:** ${settings}${c.ferry_node_args.length ? `; node ${c.ferry_node_args.join(" ")}` : ""}`,
    c.redis ? `- **Redis** ${c.redis.version}, appendfsync ${c.redis.appendfsync}; **Postgres** ${c.postgres?.version ?? "?"}` : null,
    ...Object.entries(c.skipped_backends).map(([b, why]) => `- **Skipped ${b}:** ${why}`),
    `- **Latencies:** ingest: ${c.ingest_latency}; enqueue→delivery: ${c.delivery_latency}`,
    c.half_rate ? `- **Half rate:** ${c.half_rate_definition}` : null,
    "",
    `| | direct baseline | ${cols.map(label).join(" | ")} |`,
    `|---|---|${cols.map(() => "---|").join("")}`,
    row("postbacks/s, end to end", n0(r.direct.postbacks_per_s), (b) => n0(b.end_to_end.postbacks_per_s)),
    row("Ferry / direct", "1", (b) => b.end_to_end.ratio_to_direct.toFixed(2)),
    row("ingest requests/s (closed loop)", "—", (b) => n0(b.ingest_requests_per_s)),
    row("ingest latency p50 / p99", "—", (b) => ms(b.ingest_latency_ms)),
    row("enqueue→delivery p50 / p99", `${ms(r.direct.latency_ms)} (send→answer)`, (b) => ms(b.delivery_latency_ms)),
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
    row("CPU ms per 1,000 postbacks (cores busy)", cpuCell(r.direct.cpu), (b) => cpuCell(b.cpu)),
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
  lines.push("", "| target | backend | measured | result |", "|---|---|---|---|");
  for (const t of r.targets) {
    const measured = t.measured === null ? "—" : `${t.measured} ${t.unit}`;
    const result = t.met === null ? t.note ?? "not measured" : t.met ? `met${t.note ? ` (${t.note})` : ""}` : `**missed**: ${t.missed_by}${t.note ? ` (${t.note})` : ""}`;
    lines.push(`| ${t.description} (${t.target}) | ${t.backend} | ${measured} | ${result} |`);
  }
  return lines.filter((l) => l !== null).join("\n") + "\n";
}
