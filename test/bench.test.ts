/**
 * `npm run bench` must not rot: one smoke iteration of every phase (direct baseline, warm-up,
 * closed loop, half rate, backlog fill and drain) on every backend this machine has, and of the
 * isolation scenario (10 destinations, all healthy, then one hanging) in both variants (healthy
 * answers at once, and slow), of the events scenario (events in through POST /v1/events, then
 * the queries of issue 10), of issue 14's rate-limit and fairness scenarios, and of issue 16's
 * throughput through a destination and its SVG charts, as a child process.
 * Only the shape of its JSON is checked: timing belongs in the benchmark.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "./support/harness.js";

const PIPELINE = fileURLToPath(new URL("../bench/pipeline.js", import.meta.url));

test("the bench's smoke run exits 0 and writes a complete report", { timeout: 300_000 }, async () => {
  const out = tempDir("ferry-bench-smoke-");
  try {
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith("BENCH_")) delete env[k];
    const child = spawn(process.execPath, [PIPELINE, "--smoke", "--out", out.path], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    assert.equal(code, 0, `bench --smoke exited ${code}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
    assert.match(stdout, /\| postbacks\/s, end to end \|/, "the Markdown table is printed");

    const files = readdirSync(out.path);
    const json = files.find((f) => f.endsWith(".json"));
    assert.ok(json, `no JSON report in ${JSON.stringify(files)}`);
    assert.ok(files.includes(json.replace(/\.json$/, ".md")), "the Markdown report sits beside the JSON");
    const r = JSON.parse(readFileSync(join(out.path, json), "utf8"));

    assert.equal(r.config.smoke, true);
    assert.equal(r.config.load_client, "undici", "the figures' default: undici sends the load");
    assert.deepEqual(r.config.scenarios, ["throughput", "throughput-destinations", "isolation", "isolation-slow", "events", "rate-limit", "fairness"], "the default run has every scenario");
    for (const k of ["cpu", "node", "commit"]) assert.ok(typeof r.machine[k] === "string" && r.machine[k], `machine.${k}`);
    positive(r.machine.cores, "machine.cores");
    positive(r.direct.postbacks_per_s, "direct.postbacks_per_s");
    latency(r.direct.latency_ms, "direct.latency_ms", true);

    const names = r.backends.map((b: any) => b.name);
    assert.ok(names.includes("embedded"), "the embedded default is always measured");
    assert.deepEqual(names, r.config.backends);
    for (const b of r.backends) {
      const at = (k: string) => `${b.name}.${k}`;
      positive(b.end_to_end.postbacks_per_s, at("end_to_end.postbacks_per_s"));
      positive(b.end_to_end.ratio_to_direct, at("end_to_end.ratio_to_direct"));
      latency(b.ingest_latency_ms, at("ingest_latency_ms"), true);
      latency(b.delivery_latency_ms, at("delivery_latency_ms"), false);
      positive(b.half_rate?.offered_postbacks_per_s, at("half_rate.offered_postbacks_per_s"));
      latency(b.half_rate?.ingest_latency_ms, at("half_rate.ingest_latency_ms"), true);
      for (const p of b.processes) positive(b.peak_rss_mib[p], at(`peak_rss_mib[${p}]`));
      positive(b.backlog?.postbacks, at("backlog.postbacks"));
      positive(b.backlog?.drain.postbacks_per_s, at("backlog.drain.postbacks_per_s"));
      positive(b.backlog?.peak_rss_mib[b.backlog.worker], at("backlog worker peak RSS"));
      if (b.name === "redis-postgres") {
        positive(b.redis?.bytes_per_postback, at("redis.bytes_per_postback"));
        positive(b.redis?.data_object_bytes, at("redis.data_object_bytes"));
      } else {
        assert.equal(b.redis, null, "no Redis figures for the embedded default");
      }
    }
    // Issue 16: the same load through an account's destination, on the same backends.
    assert.match(stdout, /## Throughput through a destination \(issue 16\)/, "the destination variant's section is printed");
    assert.deepEqual(r.throughput_destinations.map((b: any) => b.name), names, "the destination variant runs on the same backends");
    for (const b of r.throughput_destinations) {
      positive(b.end_to_end.ratio_to_direct, `throughput_destinations.${b.name}.ratio_to_direct`);
      positive(b.cpu.total_ms_per_1000_postbacks, `throughput_destinations.${b.name}.cpu`);
      assert.equal(b.timeline.n.reduce((a: number, x: number) => a + x, 0), r.config.postbacks, "the timeline buckets hold every postback");
    }
    for (const b of r.backends) assert.equal(b.timeline.n.reduce((a: number, x: number) => a + x, 0), r.config.postbacks, `${b.name}: timeline buckets`);
    // The charts: SVG files beside the report, linked from its Markdown.
    const md = readFileSync(join(out.path, json.replace(/\.json$/, ".md")), "utf8");
    assert.deepEqual(r.charts.map((c: any) => c.path.replace(/^.*-/, "")), ["throughput.svg", "latency.svg", "cpu.svg"]);
    for (const c of r.charts) {
      assert.match(readFileSync(join(out.path, c.path), "utf8"), /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/, `${c.path} is an SVG`);
      assert.ok(md.includes(`](${c.path})`), `the report links ${c.path}`);
    }
    const ids = new Set(r.targets.map((t: any) => `${t.backend}/${t.id}`));
    for (const b of names) {
      for (const id of ["end_to_end_ratio", "backlog_worker_rss", "backlog_drain_ratio", "ingest_p99_half_rate"]) {
        assert.ok(ids.has(`${b}/${id}`), `target ${id} is checked for ${b}`);
      }
    }
    assert.match(stdout, /## Isolation\n/, "the isolation section is printed");
    assert.match(stdout, /## Isolation, slow healthy partners \(50 ms answers\)/, "the slow isolation section is printed");
    assert.equal(r.isolation.healthy_answer_ms, 0);
    assert.equal(r.isolation_slow.healthy_answer_ms, 50, "the slow variant's healthy destinations answer in 50 ms by default");
    for (const iso of [r.isolation, r.isolation_slow]) checkIsolation(iso);
    assert.ok(ids.has("embedded/isolation_slow_ratio"), "the slow isolation target is checked");
    assert.ok(ids.has("embedded/isolation_ratio"), "the isolation target is checked");
    assert.match(stdout, /## Events \(issue 10\)/, "the events section is printed");
    const ev = r.events;
    assert.ok(ev, "the events scenario ran");
    assert.deepEqual(ev.backends.map((b: any) => b.name), names, "the events scenario runs on the same backends");
    for (const b of ev.backends) {
      const at = (k: string) => `events.${b.name}.${k}`;
      assert.equal(b.events, ev.events);
      positive(b.ingest.events_per_s, at("ingest.events_per_s"));
      latency(b.ingest.request_latency_ms, at("ingest.request_latency_ms"), true);
      assert.equal(b.outbox_left, 0, "no destination: the outbox is drained by the time Ferry stops");
      for (const kind of Object.keys(ev.query_kinds)) {
        for (const side of ["api", "store"]) {
          latency(b[side][kind], at(`${side}.${kind}`), false);
          assert.ok(Number.isFinite(b[side][kind].p95), `${at(`${side}.${kind}`)}.p95`);
        }
      }
      assert.equal(b.api.session_view.rows, 50, "a session's whole story is its 50 events");
      for (const id of ["events_session_p99", "events_category_hour_p99"]) assert.ok(ids.has(`${b.name}/${id}`), `target ${id} is checked for ${b.name}`);
    }
    assert.match(stdout, /## Rate limit across workers/, "the rate-limit section is printed");
    assert.deepEqual(r.rate_limit.map((x: any) => x.name), names, "the rate-limit scenario runs on the same backends");
    for (const x of r.rate_limit) {
      assert.equal(x.rate_limit, r.config.rate_limit.rate_limit);
      assert.equal(x.rate_limit_burst, 1);
      assert.equal(x.postbacks, r.config.rate_limit.rate_limit * r.config.rate_limit.seconds, `rate_limit.${x.name}: every postback arrived`);
      positive(x.steady.per_s, `rate_limit.${x.name}.steady.per_s`);
      positive(x.ratio, `rate_limit.${x.name}.ratio`);
      positive(x.max_per_second, `rate_limit.${x.name}.max_per_second`);
      assert.equal(x.per_second.reduce((a: number, b: number) => a + b, 0), x.postbacks, "the per-second buckets hold every arrival");
      if (x.name === "redis-postgres") assert.ok(x.processes.includes("2 × ferry worker"), `two workers drain: ${x.processes}`);
      assert.ok(ids.has(`${x.name}/rate_limit_ratio`), `the rate-limit target is checked for ${x.name}`);
    }
    assert.match(stdout, /## Fairness: a noisy account beside a quiet one/, "the fairness section is printed");
    assert.deepEqual(r.fairness.map((x: any) => x.name), names, "the fairness scenario runs on the same backends");
    for (const x of r.fairness) {
      const quiet = r.config.fairness.quiet_per_s * r.config.fairness.quiet_seconds;
      assert.equal(x.noisy.backlog, r.config.fairness.backlog);
      positive(x.noisy.drain.postbacks_per_s, `fairness.${x.name}.noisy.drain.postbacks_per_s`);
      assert.equal(x.quiet.postbacks, quiet, `fairness.${x.name}: every quiet postback arrived`);
      latency(x.quiet.delivery_latency_ms, `fairness.${x.name}.quiet.delivery_latency_ms`, false);
      assert.equal(x.quiet.delivery_latency_ms.samples, quiet, "one latency per quiet postback");
      assert.ok(ids.has(`${x.name}/fairness_quiet_p99`), `the fairness target is checked for ${x.name}`);
    }
    for (const t of r.targets) assert.ok(t.met === true || t.met === false, `${t.backend}/${t.id} was measured`);
  } finally {
    out.cleanup();
  }
});

test("the smoke run with --load-client client sends ingest requests and event batches through @ferry/client", { timeout: 300_000 }, async () => {
  const out = tempDir("ferry-bench-client-");
  try {
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith("BENCH_")) delete env[k];
    const args = [PIPELINE, "--smoke", "--scenarios", "throughput,events", "--backends", "embedded", "--load-client", "client", "--out", out.path];
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    assert.equal(code, 0, `bench --smoke --load-client client exited ${code}\n${output}`);
    assert.match(output, /Load generator sends with:\*\* @ferry\/client/);
    const json = readdirSync(out.path).find((f) => f.endsWith(".json"))!;
    const r = JSON.parse(readFileSync(join(out.path, json), "utf8"));
    assert.equal(r.config.load_client, "client");
    const embedded = r.backends.find((b: any) => b.name === "embedded");
    assert.ok(embedded.end_to_end.postbacks_per_s > 0, "every postback ingested through the client was delivered");
    assert.ok(r.events.backends[0].ingest.events_per_s > 0, "every event batch sent through the client was stored");
  } finally {
    out.cleanup();
  }
});

function positive(value: unknown, what: string): void {
  assert.ok(typeof value === "number" && value > 0, `${what} should be a positive number, got ${value}`);
}

/** A latency summary; whole-millisecond latencies may truly be 0 on a fast run (strict: not). */
function latency(s: any, what: string, strict: boolean): void {
  positive(s?.samples, `${what}.samples`);
  for (const k of ["p50", "p99", "max"]) {
    if (strict) positive(s[k], `${what}.${k}`);
    else assert.ok(Number.isFinite(s[k]) && s[k] >= 0, `${what}.${k} should be a number ≥ 0, got ${s[k]}`);
  }
}

/** The shape of one isolation result (either variant). */
function checkIsolation(iso: any): void {
  assert.ok(iso, "the isolation scenario ran");
  assert.equal(iso.backend, "embedded");
  assert.equal(iso.destinations, 10);
  positive(iso.ferry_timeout_ms, "isolation.ferry_timeout_ms");
  positive(iso.ratio, "isolation.ratio");
  assert.ok(iso.rounds.length >= 1 && iso.median_round >= 1 && iso.median_round <= iso.rounds.length, "isolation rounds and the median one");
  for (const x of iso.rounds) positive(x.ratio, "isolation.rounds[].ratio");
  for (const [name, run] of [["all_healthy", iso.all_healthy], ["one_hanging", iso.one_hanging]] as const) {
    positive(run.healthy.postbacks_per_s, `isolation.${name}.healthy.postbacks_per_s`);
    assert.equal(run.healthy.postbacks, iso.postbacks_per_destination * 9, `isolation.${name}: the nine's postbacks`);
    latency(run.delivery_latency_ms, `isolation.${name}.delivery_latency_ms`, false);
    assert.equal(run.destinations.length, 10);
    for (const d of run.destinations.slice(0, 9)) {
      assert.equal(d.state, "healthy");
      assert.equal(d.postbacks, iso.postbacks_per_destination, `isolation.${name}: destination ${d.destination} got all its postbacks`);
    }
  }
  const hung = iso.one_hanging.destinations[9];
  assert.equal(hung.state, "hanging");
  positive(hung.requests, "isolation: attempts held by the hanging destination");
}
