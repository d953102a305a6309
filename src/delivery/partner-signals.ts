/**
 * What the worker tells the operator about partners' signals beyond one attempt (issue 14):
 * adaptive pacing lowering or restoring an origin's or destination's concurrency, a
 * Retry-After pausing a destination (or one Ferry could not use), a 410 Gone disabling it.
 * Each is counted for /metrics at once, and logged at most once per period per origin or
 * destination (LogEvery), with how many times it happened meanwhile: a partner answering 429
 * ten thousand times a second must not write ten thousand log lines.
 */
import type { Logger } from "pino";
import type { Aimd, Signal } from "../core/aimd.js";
import { MINUTE, SECOND } from "../core/time.js";
import { LogEvery } from "./log-every.js";
import type { Pause } from "./outcome.js";
import type { DeliveryObserver } from "./worker.js";

/** At most one pacing (or pause) log line per origin or destination, and direction, this often. */
const PACE_LOG_MS = 10 * SECOND;
/** At most one log line per destination this often about a Retry-After that could not be used. */
const RETRY_AFTER_LOG_MS = MINUTE;

export interface PartnerSignalsOptions {
  logger: Logger;
  observer?: DeliveryObserver | undefined;
  /** The worker's counters this bumps. */
  counts: { paused: number; paced: number; gone: number };
  /** FERRY_RETRY_MAX_DELAY_MS, named in the line about a capped Retry-After. */
  retryMaxDelayMs: number;
}

export class PartnerSignals {
  private readonly paceLog = new LogEvery(PACE_LOG_MS);
  private readonly retryAfterLog = new LogEvery(RETRY_AFTER_LOG_MS);

  constructor(private readonly o: PartnerSignalsOptions) {}

  /** A Retry-After that is not seconds nor an HTTP date (ignored), or longer than the longest retry delay (capped). */
  retryAfterProblem(destinationId: string, problem: { value: string; problem: "invalid" | "capped" }, now: number): void {
    if (this.retryAfterLog.due(destinationId, now) === undefined) return;
    this.o.logger.warn(
      { destination_id: destinationId, retry_after: problem.value, max_delay_ms: this.o.retryMaxDelayMs },
      problem.problem === "invalid"
        ? "partner sent a Retry-After that is neither seconds nor an HTTP date; ignored (logged once a minute per destination)"
        : "partner's Retry-After is longer than FERRY_RETRY_MAX_DELAY_MS; the pause is capped there (logged once a minute per destination)",
    );
  }

  /** The partner paused its destination (429 or 503 with Retry-After). */
  paused(pause: Pause, now: number): void {
    this.o.counts.paused++;
    this.o.observer?.paused();
    if (this.paceLog.due(`pause:${pause.destinationId}`, now) === undefined) return;
    this.o.logger.warn(
      { destination_id: pause.destinationId, paused_until: new Date(pause.until).toISOString(), reason: pause.reason },
      "destination paused by its partner's Retry-After; its postbacks wait until then, not counted as attempts",
    );
  }

  /** The flush disabled a destination that answered 410 Gone (once per destination: see Worker). */
  gone(destinationId: string): void {
    this.o.counts.gone++;
    this.o.observer?.gone();
    this.o.logger.warn({ destination_id: destinationId }, "destination answered 410 Gone: disabled; its postbacks are held until it is enabled again");
  }

  /** An origin's or destination's pacing limit changed: counted when it drops; logged when it drops and when it is full again. */
  paced(scope: "origin" | "destination", key: string, from: Aimd, to: Aimd, signal: Signal): void {
    const dropped = to.limit < from.limit;
    if (dropped && signal !== "success") {
      this.o.counts.paced++;
      this.o.observer?.paced(scope, signal);
    }
    if (!dropped && to.limit < to.max) return;
    const times = this.paceLog.due(`${scope}:${dropped ? "down" : "up"}:${key}`);
    if (times === undefined) return;
    const fields = { [scope === "origin" ? "origin" : "destination_id"]: key, limit: to.limit, max: to.max, ...(dropped ? { signal, drops: times } : {}) };
    if (dropped) this.o.logger.warn(fields, `${scope} pacing: concurrency lowered (timeouts, connection errors, 429 or 503)`);
    else this.o.logger.info(fields, `${scope} pacing: back to full concurrency`);
  }
}
