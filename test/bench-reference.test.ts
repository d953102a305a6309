/**
 * The bench's regression guard and charts (issue 16), as pure functions: --check's comparison
 * (a drop of more than 15% fails, the way that is worse depends on the figure's kind), the
 * reference block it reads from and --record writes to docs/benchmarks.md, the refusal of
 * --check with --smoke, and the SVG the charts are made of.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { compare, compareFigure, direction, failed, parseReference, replaceReference } from "../bench/reference.js";
import { barChart, lineChart, niceTicks, points } from "../bench/charts.js";
import { parseOptions } from "../bench/options.js";

test("a ratio to the direct baseline 16% lower fails, 14% lower passes", () => {
  assert.equal(compareFigure("embedded.ratio", 0.5, 0.5 * 0.84).verdict, "worse");
  assert.equal(compareFigure("embedded.ratio", 0.5, 0.5 * 0.86).verdict, "ok");
  assert.equal(compareFigure("embedded.ratio", 0.5, 0.7).verdict, "better", "a higher ratio is better");
});

test("CPU per 1,000 postbacks 16% higher fails, 14% higher passes; lower is better", () => {
  assert.equal(compareFigure("embedded.cpu_ms_per_1000.start", 100, 116).verdict, "worse");
  assert.equal(compareFigure("embedded.cpu_ms_per_1000.start", 100, 114).verdict, "ok");
  assert.equal(compareFigure("embedded.cpu_ms_per_1000.start", 100, 60).verdict, "better");
});

test("a latency p99 is worse when more than 15% and more than 5 ms higher", () => {
  assert.equal(compareFigure("embedded.delivery.p99_ms", 100, 116).verdict, "worse");
  assert.equal(compareFigure("embedded.delivery.p99_ms", 100, 114).verdict, "ok");
  assert.equal(compareFigure("embedded.delivery.p99_ms", 4, 8).verdict, "ok", "4 → 8 ms is noise, not a regression");
  assert.equal(compareFigure("embedded.delivery.p99_ms", 10, 16).verdict, "worse");
});

test("figures the run did not measure, or the reference lacks, never fail", () => {
  const rows = compare({ "embedded.ratio": 0.5, "redis-postgres.ratio": 0.3 }, { "embedded.ratio": 0.4, "embedded.cpu_ms_per_1000.start": 90 });
  assert.deepEqual(rows.map((r) => [r.figure, r.verdict]), [
    ["embedded.cpu_ms_per_1000.start", "new"],
    ["embedded.ratio", "worse"],
    ["redis-postgres.ratio", "not measured"],
  ]);
  assert.deepEqual(failed(rows).map((r) => r.figure), ["embedded.ratio"]);
  assert.throws(() => direction("embedded.postbacks_per_s"), /no direction/);
});

test("docs/benchmarks.md holds a reference block that parses, and --record's rewrite round-trips", () => {
  const docs = readFileSync(fileURLToPath(new URL("../../docs/benchmarks.md", import.meta.url)), "utf8");
  const ref = parseReference(docs);
  assert.ok(ref.figures["embedded.ratio"]! > 0, "the embedded ratio is recorded");
  assert.ok(ref.machine && ref.commit && ref.date, "machine, commit and date say where the figures come from");
  const next = { ...ref, commit: "abc1234", figures: { "embedded.ratio": 0.61 } };
  const rewritten = replaceReference(docs, next);
  assert.deepEqual(parseReference(rewritten), next);
  assert.equal(rewritten.replace(/```json bench-reference[\s\S]*?```/, ""), docs.replace(/```json bench-reference[\s\S]*?```/, ""), "nothing else changes");
  assert.throws(() => parseReference("no block here"), /bench-reference/);
});

test("--check and --record refuse --smoke: a smoke run's figures mean nothing", () => {
  assert.throws(() => parseOptions(["--smoke", "--check"], {}), /--check with --smoke: a smoke run's figures mean nothing/);
  assert.throws(() => parseOptions(["--record"], { BENCH_SMOKE: "1" }), /--record with --smoke/);
  assert.deepEqual(parseOptions(["--check"], {}).scenarios, ["throughput"], "--check alone runs the throughput scenario");
  assert.deepEqual(parseOptions(["--check", "--scenarios", "throughput-destinations"], {}).scenarios, ["throughput-destinations"]);
});

test("charts: round ticks, axes, labels and a legend, one polyline per line, broken at missing points", () => {
  assert.deepEqual(niceTicks(9_500, 5), [0, 2000, 4000, 6000, 8000, 10000]);
  assert.deepEqual(niceTicks(0), [0, 1]);
  const svg = lineChart({
    title: "Postbacks <per> second",
    xLabel: "seconds",
    yLabel: "postbacks / s",
    lines: [
      { name: "direct baseline", points: [[0.5, 100], [1.5, 200], [2.5, 150]], color: "#555555", dashed: true },
      { name: "embedded", points: [[0.5, 50], [1.5, null], [2.5, 60], [3.5, 70]], color: "#0072B2" },
    ],
  });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="\d+" height="\d+" viewBox=/);
  assert.match(svg, /<title>Postbacks &lt;per&gt; second<\/title>/, "text is escaped");
  assert.match(svg, />seconds</);
  assert.match(svg, />postbacks \/ s</);
  assert.match(svg, />direct baseline</);
  assert.match(svg, />embedded</);
  assert.equal((svg.match(/<polyline/g) ?? []).length, 2, "baseline: one line; embedded: a lone point, then a line");
  assert.equal((svg.match(/<circle/g) ?? []).length, 1, "the point before the gap");
  assert.match(svg, />200</, "the y axis reaches the highest value");
  const bars = barChart({
    title: "CPU",
    xLabel: "ms per 1,000",
    bars: [{ label: "embedded: ferry start", value: 107, color: "#0072B2" }, { label: "direct: load generator", value: 40, color: "#555555" }],
    legend: [{ name: "embedded", color: "#0072B2" }],
  });
  assert.equal((bars.match(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="16"/g) ?? []).length, 2, "one bar per process (the legend's swatches are 12 high)");
  assert.match(bars, />embedded: ferry start</);
  assert.match(bars, />107</);
});

test("chart points: postbacks per second from 100 ms buckets, the partial last one by its width; long runs grouped", () => {
  const t = { bucket_ms: 100, span_ms: 250, n: [10, 20, 5], p50: [1, 2, null], p99: [3, 9, null] };
  assert.deepEqual(points(t, "n"), [[0.05, 100], [0.15, 200], [0.225, 100]], "the last bucket spans 50 ms: 5 in 50 ms is 100/s");
  assert.deepEqual(points({ ...t, span_ms: 210 }, "n").length, 2, "a last bucket under a fifth of its width is left out");
  assert.deepEqual(points(t, "p99"), [[0.05, 3], [0.15, 9], [0.225, null]], "no latency sample: a gap");
  assert.deepEqual(points(t, "p99", 2), [[0.1, 9], [0.225, null]], "grouped: the highest p99");
  assert.deepEqual(points(t, "n", 2), [[0.1, 150], [0.225, 100]], "grouped: counts summed over the group's width");
});
