/**
 * The worker's Prometheus metrics: attempts by outcome and destination, attempt latency, and
 * postbacks in flight. Fed by the worker through DeliveryObserver, in memory only: an attempt
 * costs a map lookup and a counter increment, never I/O.
 *
 * Counting is plain arithmetic on the series' own numbers; prom-client sees them only when
 * scraped. Its bound `inc()`/`observe()` hash and validate the labels on every call: 1.5–1.7%
 * of a busy worker's CPU in profiles at ~5,000 attempts/s (issue 16).
 *
 * Destination labels are bounded: the first `maxDestinations` destinations seen get their own
 * label, any further one is counted as "other" (and data ingested with a bare URL, which has no
 * destination, as "none"), so a Prometheus never gets an unbounded number of series from Ferry.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { DeliveryObserver } from "./worker.js";
import type { LimitEvent } from "./destination-limiter.js";
import { CONGESTION, type Congestion } from "../core/aimd.js";

/** What the metrics read from the worker on each scrape. */
export interface DeliverySource {
  readonly inFlightCount: number;
  pacedBelowFull?(): { origins: number; destinations: number };
}

type Outcome = "delivered" | "retry" | "dead" | "held" | "cancelled" | "released";

/** Seconds; from a fast local receiver to a slow partner near the attempt timeout. */
const ATTEMPT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

const OUTCOMES: readonly Outcome[] = ["delivered", "retry", "dead", "held", "cancelled", "released"];

/** One destination label's numbers, made once so that counting an attempt looks up nothing else. */
interface Series {
  label: string;
  outcomes: Record<Outcome, number>;
  /** What prom-client's counter has been given of `outcomes` so far. */
  reported: Record<Outcome, number>;
  /** Attempts per bucket of ATTEMPT_BUCKETS (not cumulative), and one more past the last. */
  buckets: number[];
  sum: number;
  count: number;
}

const zeroes = (): Record<Outcome, number> => ({ delivered: 0, retry: 0, dead: 0, held: 0, cancelled: 0, released: 0 });

export class DeliveryMetrics implements DeliveryObserver {
  private readonly attempts: Counter<"outcome" | "destination">;
  private readonly disabledTotal: Counter;
  private readonly limitWaits: Counter<"reason">;
  private readonly limitGivenBack: Counter<"reason">;
  private readonly pacedTotal: Counter<"scope" | "signal">;
  private readonly pausesTotal: Counter;
  private readonly goneTotal: Counter;
  private readonly byDestination = new Map<string, Series>();
  private readonly none: Series;
  private readonly other: Series;
  private source: DeliverySource | undefined;

  constructor(
    registry: Registry,
    private readonly maxDestinations: number,
  ) {
    const registers = [registry];
    const self = this;
    this.attempts = new Counter({
      name: "ferry_attempts_total",
      help: "Reserved postbacks by outcome: delivered, retry (failed, tried again later), dead (failed for good); and, not attempted: held (destination disabled), cancelled, released (given back to the queue).",
      labelNames: ["outcome", "destination"],
      registers,
      collect() {
        for (const series of self.all()) {
          for (const outcome of OUTCOMES) {
            const added = series.outcomes[outcome] - series.reported[outcome];
            if (added > 0) this.labels(outcome, series.label).inc(added);
            series.reported[outcome] = series.outcomes[outcome];
          }
        }
      },
    });
    registry.registerMetric(new DurationHistogram(() => self.all()) as unknown as Counter);
    this.disabledTotal = new Counter({
      name: "ferry_destinations_auto_disabled_total",
      help: "Destinations this process disabled by endpoint health (too many failures within the window).",
      registers,
    });
    // Per reason only (no destination label): a handful of series whatever the traffic.
    this.limitWaits = new Counter({
      name: "ferry_limit_waits_total",
      help: "Times a destination's limits told the head of its line to wait: reason concurrency (its slots were full) or rate (rate_limit). Each is one question to the limit store.",
      labelNames: ["reason"],
      registers,
    });
    this.limitGivenBack = new Counter({
      name: "ferry_limit_given_back_total",
      help: "Postbacks a destination's limits sent back to the queue: line_full (too many already waiting), deadline (waited until their lease could no longer cover an attempt), store_unavailable (the limit store could not be asked).",
      labelNames: ["reason"],
      registers,
    });
    new Gauge({
      name: "ferry_postbacks_in_flight",
      help: "Postbacks this worker has reserved and not yet settled.",
      registers,
      collect() {
        this.set(self.source?.inFlightCount ?? 0);
      },
    });
    this.pacedTotal = new Counter({
      name: "ferry_pacing_decreases_total",
      help: "Times adaptive pacing halved the concurrency of an origin or a destination, by the sign of overload: timeout, connection_error, throttled (429 or 503).",
      labelNames: ["scope", "signal"],
      registers,
    });
    // Every series shown from the start, at 0, so rate() sees the first decrease.
    for (const scope of ["origin", "destination"]) for (const signal of CONGESTION) this.pacedTotal.labels(scope, signal);
    new Gauge({
      name: "ferry_pacing_below_full",
      help: "Origins and destinations whose adaptive pacing limit is below their full concurrency now (remembered for 10 minutes after their last request).",
      labelNames: ["scope"],
      registers,
      collect() {
        const paced = self.source?.pacedBelowFull?.() ?? { origins: 0, destinations: 0 };
        this.labels("origin").set(paced.origins);
        this.labels("destination").set(paced.destinations);
      },
    });
    this.pausesTotal = new Counter({
      name: "ferry_destination_pauses_total",
      help: "Answers 429 or 503 with a usable Retry-After, each pausing its destination (all its postbacks, on every worker) until then.",
      registers,
    });
    this.goneTotal = new Counter({
      name: "ferry_destinations_gone_total",
      help: "Destinations this process disabled because they answered 410 Gone.",
      registers,
    });
    this.none = this.series("none");
    this.other = this.series("other");
  }

  /** The worker whose postbacks in flight are reported. */
  watch(source: DeliverySource): void {
    this.source = source;
  }

  attempt(outcome: "delivered" | "retried" | "dead", destinationId: string | undefined, durationMs: number): void {
    const s = this.seriesOf(destinationId);
    s.outcomes[outcome === "retried" ? "retry" : outcome]++;
    const seconds = durationMs / 1000;
    let i = 0;
    while (i < ATTEMPT_BUCKETS.length && seconds > ATTEMPT_BUCKETS[i]!) i++;
    s.buckets[i]!++;
    s.sum += seconds;
    s.count++;
  }

  notAttempted(outcome: "held" | "cancelled" | "released", destinationId: string | undefined): void {
    this.seriesOf(destinationId).outcomes[outcome]++;
  }

  disabled(count: number): void {
    this.disabledTotal.inc(count);
  }

  limited(event: LimitEvent): void {
    (event.kind === "wait" ? this.limitWaits : this.limitGivenBack).labels(event.reason).inc();
  }

  paced(scope: "origin" | "destination", signal: Congestion): void {
    this.pacedTotal.labels(scope, signal).inc();
  }

  paused(): void {
    this.pausesTotal.inc();
  }

  gone(): void {
    this.goneTotal.inc();
  }

  private seriesOf(destinationId: string | undefined): Series {
    if (destinationId === undefined) return this.none;
    const known = this.byDestination.get(destinationId);
    if (known) return known;
    if (this.byDestination.size >= this.maxDestinations) return this.other;
    const made = this.series(destinationId);
    this.byDestination.set(destinationId, made);
    return made;
  }

  private series(label: string): Series {
    return { label, outcomes: zeroes(), reported: zeroes(), buckets: new Array<number>(ATTEMPT_BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
  }

  /** Every series, in the order they were made: none, other, then destinations. */
  private *all(): Iterable<Series> {
    yield this.none;
    yield this.other;
    yield* this.byDestination.values();
  }
}

/**
 * ferry_attempt_duration_seconds, read from the series at scrape time: what prom-client's
 * Histogram would show (cumulative buckets, +Inf, sum, count, one set per destination label
 * with an attempt), as a metric object the registry formats like its own.
 */
class DurationHistogram {
  readonly name = "ferry_attempt_duration_seconds";
  readonly help = "Time from sending a postback to having its answer (or error), per attempt.";
  readonly type = "histogram";
  readonly aggregator = "sum";

  constructor(private readonly series: () => Iterable<Series>) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] } {
    const values = [];
    for (const s of this.series()) {
      if (s.count === 0) continue;
      let cumulative = 0;
      for (let i = 0; i <= ATTEMPT_BUCKETS.length; i++) {
        cumulative += s.buckets[i]!;
        const le = i < ATTEMPT_BUCKETS.length ? ATTEMPT_BUCKETS[i]! : "+Inf";
        values.push({ labels: { le, destination: s.label }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { destination: s.label }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { destination: s.label }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const s of this.series()) {
      s.buckets.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
