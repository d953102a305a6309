/**
 * The isolation scenario: one destination that never answers, or answers
 * slowly, must not slow the others. On the embedded default (one `ferry start`), 10
 * destinations (10 ports of the receiver, so 10 origins to Ferry's worker), the seed's inline
 * postbacks through POST /ingest, the destinations' requests interleaved evenly.
 *
 * - Run A: all ten answer 200 at once.
 * - Run B: the same load; destination 10 accepts each request and never answers, so each
 *   attempt there lasts FERRY_TIMEOUT_MS (short here, 2 s, so attempts time out and are
 *   retried within the run).
 *
 * The slow variant (issue 14, scenario isolation-slow): the same runs with the healthy
 * destinations answering after `answerMs` (50 ms by default), so Ferry holds many more requests
 * in flight to the nine for the same rate, beside the ones the hanging destination holds.
 *
 * Each run: a fresh process and data dir, a warm-up with all ten healthy, then the measured
 * load. The throughput of the nine: their postbacks ÷ (first ingest request sent → the last of
 * their postbacks received); destination 10's are neither counted nor waited for.
 *
 * On a shared 2-core machine one A and one B run apart can differ by ±25% from what else runs,
 * so a round is one A and one B back to back, rounds alternate the order (A B, B A, A B...) so
 * a drift in the machine's load does not favour one side, and the result is the median of the
 * rounds' B ÷ A. The target: B ÷ A ≥ 0.80.
 */
import { loadavg } from "node:os";
import type { FerryProcess } from "./ferry.js";
import { cpuMeter } from "./cpu.js";
import { runPhase } from "./phases.js";
import type { IsolationDestination, IsolationResult, IsolationRound, IsolationRun } from "./report.js";
import { backendSettings, cpuGroups, cpuPer1000, DATA_OBJECT, endToEnd, start, stop, TEMPLATE_PATH, TOKEN, type Context } from "./scenarios.js";
import { round } from "./stats.js";

export const DESTINATIONS = 10;
/** The destination (1-based) that hangs in run B. */
export const HANGING = 10;

/** answerMs: how long the healthy destinations take to answer (0: at once, the first variant). */
export async function isolation(ctx: Context, answerMs = 0): Promise<IsolationResult> {
  const { options: o, helpers: h } = ctx;
  const answer = h.receiver.next("destinations");
  h.receiver.send({ type: "destinations", count: DESTINATIONS });
  const { ports } = await answer;
  const hangPort = ports[HANGING - 1]!;
  const healthyPorts = ports.filter((p) => p !== hangPort);
  const data = Array.from({ length: o.perRequest }, () => DATA_OBJECT);
  const bodies = ports.map((port) => JSON.stringify({ endpoint: { method: "GET", url: `http://127.0.0.1:${port}${TEMPLATE_PATH}` }, data }));
  const requests = o.isolationRequests; // a multiple of DESTINATIONS
  const perDestination = (requests / DESTINATIONS) * o.perRequest;
  const nine = perDestination * healthyPorts.length;

  const variant = answerMs ? `, healthy answer in ${answerMs} ms` : "";
  const run = async (label: string, hang: boolean): Promise<IsolationRun> => {
    const loadAverage = round(loadavg()[0]!, 2);
    const { settings } = await backendSettings(ctx, "embedded");
    const p: FerryProcess = await start(ctx, "start", { ...settings, FERRY_TIMEOUT_MS: String(o.isolationTimeoutMs) });
    const job = (n: number) => ({ type: "ingest" as const, url: `${p.url}/ingest`, token: TOKEN, body: bodies[0]!, bodies, requests: n, concurrency: o.concurrency, via: o.loadClient });
    // All ten healthy, every postback delivered: the worker is up, pools to all ten are open.
    const warm = Math.max(DESTINATIONS, Math.min(200, Math.floor(requests / 10 / DESTINATIONS) * DESTINATIONS));
    await runPhase(h, { label: `isolation ${label}${variant}: warm-up`, expect: warm * o.perRequest, job: job(warm), answerMs, progressFrom: "receiver", watch: [p] });

    const meter = cpuMeter(cpuGroups(ctx, [p]));
    const r = await runPhase(h, {
      label: `isolation ${label}${variant}`,
      expect: nine,
      answerMs,
      counted: healthyPorts,
      hanging: hang ? [hangPort] : [],
      job: job(requests),
      progressFrom: "receiver",
      watch: [p],
    });
    const cpu = meter.stop();
    const peak = await stop(ctx, p);
    const received = r.received!;
    const load = r.load!;
    const e2e = endToEnd(nine, load.t0, received.lastAt);
    const destinations: IsolationDestination[] = ports.map((port, i) => {
      const got = received.byPort[String(port)];
      return {
        destination: i + 1,
        port,
        state: hang && port === hangPort ? "hanging" : "healthy",
        postbacks: got?.count ?? 0,
        requests: got?.requests ?? 0,
        seconds_to_last: got && got.lastAt ? round((got.lastAt - load.t0) / 1000, 3) : null,
      };
    });
    return {
      load_average_at_start: loadAverage,
      healthy: e2e,
      ingest_requests_per_s: Math.round(requests / ((load.t1 - load.t0) / 1000)),
      ingest_latency_ms: load.latencyMs,
      delivery_latency_ms: received.latencyMs,
      destinations,
      cpu: cpuPer1000(cpu, nine, e2e.seconds),
      peak_rss_mib: { "ferry start": peak },
    };
  };

  const rounds: IsolationRound[] = [];
  for (let k = 0; k < o.isolationRounds; k++) {
    const of = o.isolationRounds > 1 ? ` (round ${k + 1} of ${o.isolationRounds})` : "";
    const runA = () => run(`A, all healthy${of}`, false);
    const runB = () => run(`B, destination ${HANGING} hangs${of}`, true);
    let a: IsolationRun;
    let b: IsolationRun;
    if (k % 2 === 0) {
      a = await runA();
      b = await runB();
    } else {
      b = await runB();
      a = await runA();
    }
    rounds.push({
      order: k % 2 === 0 ? "A, B" : "B, A",
      // The same postbacks in both runs: the ratio of the rates is that of the times.
      ratio: round(a.healthy.seconds / b.healthy.seconds, 3),
      all_healthy: a,
      one_hanging: b,
    });
  }
  const sorted = [...rounds].sort((x, y) => x.ratio - y.ratio);
  const middle = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const ratio = sorted.length % 2 === 1 ? middle.ratio : round((middle.ratio + sorted[sorted.length / 2]!.ratio) / 2, 3);
  const n = healthyPorts.length;
  return {
    backend: "embedded",
    processes: ["ferry start"],
    destinations: DESTINATIONS,
    hanging_destination: HANGING,
    ferry_timeout_ms: o.isolationTimeoutMs,
    healthy_answer_ms: answerMs,
    requests,
    data_objects_per_request: o.perRequest,
    postbacks_per_destination: perDestination,
    concurrency: o.concurrency,
    load:
      `${requests.toLocaleString("en-US")} ingest requests × ${o.perRequest} data objects per run, ${o.concurrency} in flight (closed loop); ` +
      `request i goes to destination (i mod ${DESTINATIONS}) + 1, so the destinations are interleaved evenly and each gets ${perDestination.toLocaleString("en-US")} postbacks`,
    throughput_definition:
      `the ${n} healthy destinations' ${nine.toLocaleString("en-US")} postbacks ÷ (first ingest request sent → the last of them received); ` +
      `destination ${HANGING}'s postbacks are neither counted nor waited for`,
    rounds,
    median_round: rounds.indexOf(middle) + 1,
    all_healthy: middle.all_healthy,
    one_hanging: middle.one_hanging,
    ratio,
  };
}
