/**
 * The worker's Prometheus metrics: attempts by outcome and destination, attempt latency, and
 * postbacks in flight. Fed by the worker through DeliveryObserver, in memory only: an attempt
 * costs a map lookup and a counter increment, never I/O.
 *
 * Destination labels are bounded: the first `maxDestinations` destinations seen get their own
 * label, any further one is counted as "other" (and data ingested with a bare URL, which has no
 * destination, as "none"), so a Prometheus never gets an unbounded number of series from Ferry.
 */
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { DeliveryObserver } from "./worker.js";
import type { LimitEvent } from "./destination-limiter.js";

type Outcome = "delivered" | "retry" | "dead" | "held" | "cancelled" | "released";

/** Seconds; from a fast local receiver to a slow partner near the attempt timeout. */
const ATTEMPT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** One destination label's series, made once so that counting an attempt looks up nothing else. */
interface Series {
  outcomes: Record<Outcome, { inc(): void }>;
  duration: { observe(seconds: number): void };
}

export class DeliveryMetrics implements DeliveryObserver {
  private readonly attempts: Counter<"outcome" | "destination">;
  private readonly duration: Histogram<"destination">;
  private readonly disabledTotal: Counter;
  private readonly limitWaits: Counter<"reason">;
  private readonly limitGivenBack: Counter<"reason">;
  private readonly byDestination = new Map<string, Series>();
  private readonly none: Series;
  private readonly other: Series;
  private source: { readonly inFlightCount: number } | undefined;

  constructor(
    registry: Registry,
    private readonly maxDestinations: number,
  ) {
    const registers = [registry];
    this.attempts = new Counter({
      name: "ferry_attempts_total",
      help: "Reserved postbacks by outcome: delivered, retry (failed, tried again later), dead (failed for good); and, not attempted: held (destination disabled), cancelled, released (given back to the queue).",
      labelNames: ["outcome", "destination"],
      registers,
    });
    this.duration = new Histogram({
      name: "ferry_attempt_duration_seconds",
      help: "Time from sending a postback to having its answer (or error), per attempt.",
      labelNames: ["destination"],
      buckets: ATTEMPT_BUCKETS,
      registers,
    });
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
    const self = this;
    new Gauge({
      name: "ferry_postbacks_in_flight",
      help: "Postbacks this worker has reserved and not yet settled.",
      registers,
      collect() {
        this.set(self.source?.inFlightCount ?? 0);
      },
    });
    this.none = this.series("none");
    this.other = this.series("other");
  }

  /** The worker whose postbacks in flight are reported. */
  watch(source: { readonly inFlightCount: number }): void {
    this.source = source;
  }

  attempt(outcome: "delivered" | "retried" | "dead", destinationId: string | undefined, durationMs: number): void {
    const s = this.seriesOf(destinationId);
    s.outcomes[outcome === "retried" ? "retry" : outcome].inc();
    s.duration.observe(durationMs / 1000);
  }

  notAttempted(outcome: "held" | "cancelled" | "released", destinationId: string | undefined): void {
    this.seriesOf(destinationId).outcomes[outcome].inc();
  }

  disabled(count: number): void {
    this.disabledTotal.inc(count);
  }

  limited(event: LimitEvent): void {
    (event.kind === "wait" ? this.limitWaits : this.limitGivenBack).labels(event.reason).inc();
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
    const outcome = (name: Outcome) => this.attempts.labels(name, label);
    return {
      outcomes: {
        delivered: outcome("delivered"),
        retry: outcome("retry"),
        dead: outcome("dead"),
        held: outcome("held"),
        cancelled: outcome("cancelled"),
        released: outcome("released"),
      },
      duration: this.duration.labels(label),
    };
  }
}
