/**
 * The bench's charts, plain SVG written by hand (no dependency): pure functions from data to an
 * SVG string, so a test can check them and GitHub can show them in Markdown. lineChart and
 * barChart draw; benchCharts picks what to draw from a run's result: throughput and
 * enqueue→delivery latency over each closed-loop run (the receiver's 100 ms buckets), per
 * backend, beside the direct baseline, and CPU ms per 1,000 postbacks by process.
 */
import type { Timeline } from "./protocol.js";
import type { BackendResult, BenchResult, CpuUse } from "./report.js";

export interface Line {
  name: string;
  /** [x, y]; a null y breaks the line (a second with no latency sample). */
  points: Array<[number, number | null]>;
  color: string;
  dashed?: boolean;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  lines: Line[];
}

export interface Bar {
  label: string;
  value: number;
  color: string;
}

export interface BarChart {
  title: string;
  /** What the values are, under the axis. */
  xLabel: string;
  bars: Bar[];
  /** Colour → what it stands for. */
  legend: Array<{ name: string; color: string }>;
}

/** Colour-blind-safe (Okabe–Ito), readable on GitHub's light and dark backgrounds. */
export const COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#555555"];
const BASELINE = "#555555";
const FONT = `font-family="-apple-system, Segoe UI, Helvetica, Arial, sans-serif"`;

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Round axis steps (1, 2 or 5 × 10^k) from 0 to at least `max`: about `count` of them. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = 0; v < max + step / 2 && ticks.length < 50; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1]! < max) ticks.push(Number((ticks[ticks.length - 1]! + step).toPrecision(12)));
  return ticks;
}

function tickLabel(v: number): string {
  return Math.abs(v) >= 10_000 ? `${v / 1000}k` : v.toLocaleString("en-US", { maximumFractionDigits: 2 });
}

const W = 760;

/** Legend columns that fit the longest name (about 7 px a character at 12 px). */
function legendColumns(names: string[], width: number): number {
  const longest = Math.max(1, ...names.map((n) => n.length));
  return Math.max(1, Math.min(3, Math.floor(width / (longest * 7 + 44))));
}

export function lineChart(c: LineChart): string {
  const cols = legendColumns(c.lines.map((l) => l.name), W - 90);
  const legendRows = Math.ceil(c.lines.length / cols);
  const top = 40 + legendRows * 18;
  const H = top + 260 + 50;
  const left = 70, right = 20, plotH = 260, plotW = W - left - right;
  const xs = c.lines.flatMap((l) => l.points.map((p) => p[0]));
  const ys = c.lines.flatMap((l) => l.points.map((p) => p[1]).filter((y): y is number => y !== null));
  const xTicks = niceTicks(Math.max(1, ...xs), 8);
  const yTicks = niceTicks(Math.max(0, ...ys), 5);
  const xMax = xTicks[xTicks.length - 1]!;
  const yMax = yTicks[yTicks.length - 1]!;
  const X = (x: number) => left + (x / xMax) * plotW;
  const Y = (y: number) => top + plotH - (y / yMax) * plotH;
  const out: string[] = [header(W, H, c.title)];
  for (const t of yTicks) {
    out.push(`<line x1="${left}" y1="${f(Y(t))}" x2="${left + plotW}" y2="${f(Y(t))}" stroke="#8884" stroke-width="1"/>`);
    out.push(`<text x="${left - 6}" y="${f(Y(t) + 4)}" text-anchor="end" font-size="12" fill="#777">${tickLabel(t)}</text>`);
  }
  for (const t of xTicks) {
    out.push(`<line x1="${f(X(t))}" y1="${top + plotH}" x2="${f(X(t))}" y2="${top + plotH + 5}" stroke="#777"/>`);
    out.push(`<text x="${f(X(t))}" y="${top + plotH + 19}" text-anchor="middle" font-size="12" fill="#777">${tickLabel(t)}</text>`);
  }
  out.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#777"/>`);
  out.push(`<text x="${left + plotW / 2}" y="${H - 10}" text-anchor="middle" font-size="13" fill="#777">${escapeXml(c.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="13" fill="#777">${escapeXml(c.yLabel)}</text>`);
  for (const l of c.lines) {
    const segments: string[][] = [[]];
    for (const [x, y] of l.points) {
      if (y === null) segments.push([]);
      else segments[segments.length - 1]!.push(`${f(X(x))},${f(Y(y))}`);
    }
    for (const s of segments) {
      if (s.length === 1) out.push(`<circle cx="${s[0]!.split(",")[0]}" cy="${s[0]!.split(",")[1]}" r="2.5" fill="${l.color}"/>`);
      else if (s.length > 1) out.push(`<polyline points="${s.join(" ")}" fill="none" stroke="${l.color}" stroke-width="2"${l.dashed ? ` stroke-dasharray="6 4"` : ""}/>`);
    }
  }
  c.lines.forEach((l, i) => {
    const lx = left + (i % cols) * (plotW / cols);
    const ly = 40 + Math.floor(i / cols) * 18;
    out.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 24}" y2="${ly - 4}" stroke="${l.color}" stroke-width="3"${l.dashed ? ` stroke-dasharray="6 4"` : ""}/>`);
    out.push(`<text x="${lx + 30}" y="${ly}" font-size="12" fill="#777">${escapeXml(l.name)}</text>`);
  });
  out.push("</svg>\n");
  return out.join("\n");
}

/** Horizontal bars, one per row, labelled, with the value at the end of each. */
export function barChart(c: BarChart): string {
  const left = Math.min(420, Math.max(120, 16 + 7 * Math.max(0, ...c.bars.map((b) => b.label.length)))), right = 70, rowH = 24;
  const cols = legendColumns(c.legend.map((l) => l.name), W - left - right);
  const legendRows = Math.ceil(c.legend.length / cols);
  const top = 40 + legendRows * 18;
  const plotH = Math.max(1, c.bars.length) * rowH;
  const H = top + plotH + 50;
  const plotW = W - left - right;
  const ticks = niceTicks(Math.max(0, ...c.bars.map((b) => b.value)), 6);
  const max = ticks[ticks.length - 1]!;
  const X = (v: number) => left + (v / max) * plotW;
  const out: string[] = [header(W, H, c.title)];
  for (const t of ticks) {
    out.push(`<line x1="${f(X(t))}" y1="${top}" x2="${f(X(t))}" y2="${top + plotH}" stroke="#8884"/>`);
    out.push(`<text x="${f(X(t))}" y="${top + plotH + 16}" text-anchor="middle" font-size="12" fill="#777">${tickLabel(t)}</text>`);
  }
  c.bars.forEach((b, i) => {
    const y = top + i * rowH;
    out.push(`<text x="${left - 8}" y="${y + rowH / 2 + 4}" text-anchor="end" font-size="12" fill="#777">${escapeXml(b.label)}</text>`);
    out.push(`<rect x="${left}" y="${y + 4}" width="${f(Math.max(0, X(b.value) - left))}" height="${rowH - 8}" fill="${b.color}"/>`);
    out.push(`<text x="${f(X(b.value) + 4)}" y="${y + rowH / 2 + 4}" font-size="12" fill="#777">${tickLabel(b.value)}</text>`);
  });
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#777"/>`);
  out.push(`<text x="${left + plotW / 2}" y="${H - 10}" text-anchor="middle" font-size="13" fill="#777">${escapeXml(c.xLabel)}</text>`);
  c.legend.forEach((l, i) => {
    const lx = left + (i % cols) * (plotW / cols);
    const ly = 40 + Math.floor(i / cols) * 18;
    out.push(`<rect x="${lx}" y="${ly - 10}" width="14" height="12" fill="${l.color}"/>`);
    out.push(`<text x="${lx + 20}" y="${ly}" font-size="12" fill="#777">${escapeXml(l.name)}</text>`);
  });
  out.push("</svg>\n");
  return out.join("\n");
}

function header(w: number, h: number, title: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" ${FONT}>\n` +
    `<title>${escapeXml(title)}</title>\n` +
    `<text x="${w / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold" fill="#777">${escapeXml(title)}</text>`
  );
}

function f(n: number): string {
  return String(Math.round(n * 10) / 10);
}

/** At most this many points per line: longer runs group consecutive buckets. */
export const MAX_POINTS = 150;

/**
 * A run's timeline as [seconds from its first postback, value] points at each bucket's middle.
 * `n`: postbacks delivered per second (the last, partial bucket by its true width; dropped when
 * under a fifth of a bucket, where a few postbacks would read as a spike or a fall). p50 / p99:
 * the bucket's. Runs longer than MAX_POINTS buckets group k of them: their count summed, the
 * median of their p50s, the highest of their p99s (percentiles cannot be merged exactly; the
 * highest p99 never hides a bad moment).
 */
export function points(s: Timeline, key: "n" | "p50" | "p99", maxPoints = MAX_POINTS): Array<[number, number | null]> {
  const k = Math.max(1, Math.ceil(s.n.length / maxPoints));
  const width = s.bucket_ms * k;
  const out: Array<[number, number | null]> = [];
  for (let g = 0; g * k < s.n.length; g++) {
    const from = g * k;
    const to = Math.min(s.n.length, from + k);
    const ms = Math.min(width, s.span_ms - from * s.bucket_ms);
    const x = (from * s.bucket_ms + Math.max(ms, 0) / 2) / 1000;
    if (key === "n") {
      if (ms < width / 5 && g > 0) continue;
      let n = 0;
      for (let i = from; i < to; i++) n += s.n[i]!;
      out.push([x, Math.round((n / Math.max(ms, 1)) * 1000)]);
    } else {
      const vs = s[key].slice(from, to).filter((v): v is number => v !== null).sort((a, b) => a - b);
      out.push([x, vs.length === 0 ? null : key === "p99" ? vs[vs.length - 1]! : vs[Math.floor((vs.length - 1) / 2)]!]);
    }
  }
  return out;
}

/** The runs a chart shows: the throughput scenario's backends, then the destination variant's. */
function runs(r: BenchResult): Array<{ name: string; b: BackendResult }> {
  return [
    ...r.backends.map((b) => ({ name: b.name, b })),
    ...(r.throughput_destinations ?? []).map((b) => ({ name: `${b.name} via a destination`, b })),
  ];
}

/** Every chart of a run, by file name stem; empty when the throughput scenarios did not run. */
export function benchCharts(r: BenchResult): Array<{ name: string; title: string; svg: string }> {
  if (!r.direct) return [];
  const rs = runs(r);
  const color = (i: number) => COLORS[i % (COLORS.length - 1)]!;
  const out: Array<{ name: string; title: string; svg: string }> = [];
  const throughputTitle = `Postbacks delivered per second, closed loop (${r.config.postbacks.toLocaleString("en-US")} postbacks each)`;
  out.push({
    name: "throughput",
    title: throughputTitle,
    svg: lineChart({
      title: throughputTitle,
      xLabel: "seconds from the run's first delivered postback",
      yLabel: "postbacks delivered / s",
      lines: [
        { name: "direct baseline", points: points(r.direct.timeline, "n"), color: BASELINE, dashed: true },
        ...rs.map((x, i) => ({ name: x.name, points: points(x.b.timeline, "n"), color: color(i) })),
      ],
    }),
  });
  const latencyTitle = "Enqueue→delivery latency over the closed loop: p99 (solid), p50 (dashed)";
  out.push({
    name: "latency",
    title: latencyTitle,
    svg: lineChart({
      title: latencyTitle,
      xLabel: "seconds from the run's first delivered postback",
      yLabel: "ms",
      lines: rs.flatMap((x, i) => [
        { name: `${x.name} p99`, points: points(x.b.timeline, "p99"), color: color(i) },
        { name: `${x.name} p50`, points: points(x.b.timeline, "p50"), color: color(i), dashed: true },
      ]),
    }),
  });
  const cpuTitle = "CPU ms per 1,000 postbacks by process, closed loop (lower is better)";
  const legend = [{ name: "direct baseline", color: BASELINE }, ...rs.map((x, i) => ({ name: x.name, color: color(i) }))];
  const bars: Bar[] = [...cpuBars("direct", r.direct.cpu, BASELINE, () => true)];
  // For Ferry's runs, Ferry's cost: its processes, redis-server and Postgres (the load generator
  // and receiver are the bench's, shown once, for the direct baseline).
  rs.forEach((x, i) => bars.push(...cpuBars(x.name, x.b.cpu, color(i), (p) => p !== "receiver" && p !== "load generator")));
  out.push({ name: "cpu", title: cpuTitle, svg: barChart({ title: cpuTitle, xLabel: "CPU ms (user + system) per 1,000 postbacks", bars, legend }) });
  return out;
}

/** One bar per process with CPU time in the run. */
function cpuBars(run: string, cpu: CpuUse, color: string, shown: (process: string) => boolean): Bar[] {
  return Object.entries(cpu.ms_per_1000_postbacks)
    .filter(([p, v]) => v > 0 && shown(p))
    .map(([proc, v]) => ({ label: `${run}: ${proc}`, value: v, color }));
}
