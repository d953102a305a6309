/**
 * The regression guard (issue 16): `npm run bench -- --check` compares a run's figures with the
 * reference ones recorded in docs/benchmarks.md, in a fenced block tagged `json bench-reference`,
 * and fails on a drop of more than 15%; `--record` rewrites that block from a run. Pure
 * functions, so the comparison is unit-tested (test/bench-reference.test.ts).
 *
 * Figure names say their kind, and so which way is worse: `….ratio` (Ferry ÷ the direct
 * baseline of the same run) down; `….cpu_ms_per_1000.<process>` up; `….p99_ms` up.
 */
import type { BackendResult, BenchResult } from "./report.js";

export interface Reference {
  machine: string;
  commit: string;
  date: string;
  /** Free text: the load average, how the run was made. */
  note?: string;
  figures: Record<string, number>;
}

export type Direction = "higher" | "lower";

export interface Comparison {
  figure: string;
  reference: number | null;
  now: number | null;
  /** (now − reference) ÷ reference; null when either is missing. */
  delta: number | null;
  verdict: "ok" | "better" | "worse" | "not measured" | "new";
}

export const TOLERANCE = 0.15;
/**
 * Latencies on a fast run are a few ms, where 15% is one millisecond of noise: a p99 is worse
 * only when it is also this many ms above the reference.
 */
export const LATENCY_FLOOR_MS = 5;

export function direction(figure: string): Direction {
  if (/\.ratio$/.test(figure)) return "higher";
  if (/\.cpu_ms_per_1000\./.test(figure) || /p99_ms$/.test(figure)) return "lower";
  throw new Error(`bench reference: no direction for figure "${figure}" (names end in .ratio, .p99_ms, or hold .cpu_ms_per_1000.)`);
}

/** One figure: worse when it moved the bad way by more than `tolerance` (and, for latencies, the floor). */
export function compareFigure(figure: string, reference: number, now: number, tolerance = TOLERANCE): Comparison {
  const delta = reference === 0 ? (now === 0 ? 0 : Infinity) : (now - reference) / reference;
  const bad = direction(figure) === "higher" ? -delta : delta;
  const latency = /p99_ms$/.test(figure);
  let verdict: Comparison["verdict"] = "ok";
  if (bad > tolerance && !(latency && now - reference <= LATENCY_FLOOR_MS)) verdict = "worse";
  else if (bad < -tolerance) verdict = "better";
  return { figure, reference, now, delta, verdict };
}

/** Every figure of the reference and of the run; the run's missing ones are "not measured", never a failure. */
export function compare(reference: Record<string, number>, now: Record<string, number>, tolerance = TOLERANCE): Comparison[] {
  const names = [...new Set([...Object.keys(reference), ...Object.keys(now)])].sort();
  return names.map((figure) => {
    const r = reference[figure];
    const n = now[figure];
    if (r === undefined) return { figure, reference: null, now: n ?? null, delta: null, verdict: "new" };
    if (n === undefined) return { figure, reference: r, now: null, delta: null, verdict: "not measured" };
    return compareFigure(figure, r, n, tolerance);
  });
}

export function failed(rows: Comparison[]): Comparison[] {
  return rows.filter((r) => r.verdict === "worse");
}

/** The figures `--check` compares, by name, from a run's result. */
export function figuresOf(r: BenchResult): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (prefix: string, b: BackendResult) => {
    out[`${prefix}.ratio`] = b.end_to_end.ratio_to_direct;
    // The bench's own processes (load generator, receiver) are not Ferry's cost.
    for (const [proc, v] of Object.entries(b.cpu.ms_per_1000_postbacks)) {
      if (proc === "receiver" || proc === "load generator") continue;
      out[`${prefix}.cpu_ms_per_1000.${proc.replace(/^ferry /, "")}`] = v;
    }
    out[`${prefix}.delivery.p99_ms`] = b.delivery_latency_ms.p99;
    if (b.half_rate) out[`${prefix}.half_rate.ingest.p99_ms`] = b.half_rate.ingest_latency_ms.p99;
  };
  for (const b of r.backends) add(b.name, b);
  for (const b of r.throughput_destinations ?? []) add(`destinations.${b.name}`, b);
  return out;
}

const BLOCK = /```json bench-reference\n([\s\S]*?)\n```/;

export function parseReference(markdown: string): Reference {
  const m = BLOCK.exec(markdown);
  if (!m) throw new Error("no ```json bench-reference block in docs/benchmarks.md (make one with npm run bench -- --record)");
  let ref: Reference;
  try {
    ref = JSON.parse(m[1]!) as Reference;
  } catch (err) {
    throw new Error(`the bench-reference block of docs/benchmarks.md is not JSON: ${(err as Error).message}`);
  }
  if (!ref.figures || typeof ref.figures !== "object") throw new Error("the bench-reference block of docs/benchmarks.md has no figures object");
  for (const [k, v] of Object.entries(ref.figures)) {
    if (typeof v !== "number") throw new Error(`bench-reference figure ${k}: a number, got ${JSON.stringify(v)}`);
    direction(k);
  }
  return ref;
}

/** `markdown` with its bench-reference block replaced by `ref`. */
export function replaceReference(markdown: string, ref: Reference): string {
  if (!BLOCK.test(markdown)) throw new Error("no ```json bench-reference block in docs/benchmarks.md to replace");
  return markdown.replace(BLOCK, () => "```json bench-reference\n" + JSON.stringify(ref, null, 2) + "\n```");
}

/** The table --check prints. */
export function comparisonTable(rows: Comparison[]): string {
  const num = (v: number | null) => (v === null ? "—" : String(v));
  const pct = (d: number | null) => (d === null ? "—" : `${d >= 0 ? "+" : ""}${(d * 100).toFixed(1)}%`);
  const verdict = (r: Comparison) => (r.verdict === "worse" ? `**WORSE** (${direction(r.figure)} is better)` : r.verdict);
  return [
    "| figure | reference | now | delta | verdict |",
    "|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.figure} | ${num(r.reference)} | ${num(r.now)} | ${pct(r.delta)} | ${verdict(r)} |`),
  ].join("\n");
}
