/**
 * The delivery worker: reserves postbacks from the queue, sends each once, records the attempt
 * in the store and settles the entry. Outcomes are recorded and settled in batches.
 *
 * Invariant: an entry is settled only after its attempt is recorded. If the process dies in
 * between, the lease runs out and the postback is delivered again: at least once, never lost.
 */
import type { Logger } from "pino";
import type { Queue, Reservation, Settle, Settlement } from "../queue/port.js";
import type { AttemptRecord, CancelRecord, DestinationFailure, Stores } from "../store/port.js";
import { appendQuery, compileTemplate, renderTemplate, type CompiledTemplate } from "../core/template.js";
import { signatureHeaders } from "../core/signing.js";
import { decide, type RetryPolicy } from "../core/retry.js";
import { sendsBody } from "../core/types.js";
import { SECOND } from "../core/time.js";
import { OriginLimiter } from "./origin-limiter.js";
import { DestinationCache, type Route } from "./destinations.js";
import { DestinationLimiter } from "./destination-limiter.js";
import type { SendResult, Sender } from "./sender.js";

export interface WorkerOptions {
  queue: Queue;
  stores: Pick<Stores, "postbacks" | "accounts">;
  sender: Sender;
  logger: Logger;
  /** Postbacks held at once, all origins together. */
  concurrency: number;
  /** Requests in flight to one origin. */
  originConcurrency: number;
  leaseMs: number;
  pollIntervalMs: number;
  timeoutMs: number;
  retryBaseMs: number;
  retryMaxDelayMs: number;
  /** Endpoint health defaults, for destinations that set none. */
  failureThreshold: number;
  failureWindowMs: number;
  userAgent?: string;
}

interface Done {
  settlement: Settlement;
  record?: AttemptRecord;
  cancel?: CancelRecord;
  failure?: DestinationFailure;
}

/** Most entries reserved in one call: large enough to batch, small enough to share among workers. */
const RESERVE_BATCH = 128;
/** How long finished work waits to be written with what finishes after it. */
const FLUSH_DELAY_MS = 5;
/** On stop, failed writes after which finished work is left to lease expiry. */
const GIVE_UP_WRITES_ON_STOP = 3;
/** A postback whose origin is full and whose line is full goes back to the queue for this long. */
const BUSY_ORIGIN_DELAY = 1 * SECOND;
/** How often held postbacks are checked against their destination (a missed unhold heals here). */
const HOLD_SWEEP_MS = 5 * SECOND;

export class Worker {
  private readonly o: WorkerOptions;
  private readonly limiter: OriginLimiter;
  private readonly destinations: DestinationCache;
  private readonly destinationLimiter = new DestinationLimiter();
  private sweeper: NodeJS.Timeout | undefined;
  private readonly templates = new Map<string, CompiledTemplate>();
  private readonly inFlight = new Set<AbortController>();
  private held = 0;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private loop: Promise<void> | undefined;
  private wakeLoop: (() => void) | undefined;
  private done: Done[] = [];
  /** Failed writes in a row of finished work (records or settles); reservations stop meanwhile. */
  private writeFailures = 0;
  private flushing: Promise<void> | undefined;
  private idle: (() => void) | undefined;
  /** Counters for the logs and /metrics. */
  readonly counts = { attempts: 0, delivered: 0, retried: 0, dead: 0, released: 0, held: 0, cancelled: 0, disabled: 0, enabled: 0 };

  constructor(options: WorkerOptions) {
    this.o = options;
    this.limiter = new OriginLimiter(options.originConcurrency);
    this.destinations = new DestinationCache(options.stores.accounts);
  }

  start(): void {
    this.loop ??= this.run();
    this.sweeper ??= setInterval(() => void this.sweepHolds(), HOLD_SWEEP_MS).unref();
  }

  /**
   * Releases postbacks held for destinations that are enabled again or deleted. The API
   * releases them itself when it enables or deletes one; this catches a hold that raced with
   * that (the worker read the destination just before it changed) and a crashed API.
   */
  private async sweepHolds(): Promise<void> {
    try {
      for (const id of await this.o.queue.heldDestinations()) {
        const destination = await this.destinations.fresh(id);
        if (destination?.enabled === false) continue;
        const count = await this.o.queue.unhold(id);
        if (count > 0) {
          this.counts.enabled++;
          this.o.logger.info({ destination_id: id, postbacks: count, deleted: destination === undefined }, "releasing held postbacks");
        }
      }
    } catch (err) {
      this.o.logger.warn({ err }, "could not check held postbacks; will try again");
    }
  }

  /**
   * Stops taking work, lets deliveries in flight finish for up to `graceMs`, then aborts the
   * rest and gives them back to the queue; records and settles everything before resolving.
   */
  stop(graceMs: number): Promise<void> {
    this.stopped ??= this.shutdown(graceMs);
    return this.stopped;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweeper);
    this.wakeLoop?.();
    await this.loop;
    this.limiter.rejectWaiting();
    if (this.held > 0) {
      const allDone = new Promise<void>((resolve) => (this.idle = resolve));
      const timer = setTimeout(() => {
        for (const controller of this.inFlight) controller.abort(new Error("shutdown"));
      }, graceMs);
      await allDone;
      clearTimeout(timer);
    }
    await this.flush();
    await this.o.sender.close();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      const room = this.o.concurrency - this.held;
      // While finished work cannot be written, take no more: it would only be delivered again.
      if (room <= 0 || this.writeFailures > 0) {
        await this.sleep(this.o.pollIntervalMs);
        continue;
      }
      let batch: Reservation[];
      try {
        batch = await this.o.queue.reserve(Math.min(room, RESERVE_BATCH), this.o.leaseMs);
        failures = 0;
      } catch (err) {
        failures++;
        this.o.logger.error({ err }, "could not reserve postbacks; backing off");
        await this.sleep(Math.min(5 * SECOND, 100 * 2 ** failures));
        continue;
      }
      for (const reservation of batch) {
        this.held++;
        void this.deliver(reservation);
      }
      if (batch.length === 0) {
        await Promise.race([this.o.queue.waitForWork(this.o.pollIntervalMs), this.sleep(this.o.pollIntervalMs)]);
      } else {
        // Let deliveries start and more work arrive, so the next reservation is a batch too.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }

  /** Waits `ms`, or less if a slot frees or stop is called. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.wakeLoop === done) self.wakeLoop = undefined;
        resolve();
      }
      this.wakeLoop = done;
    });
  }

  private template(url: string): CompiledTemplate {
    let t = this.templates.get(url);
    if (!t) {
      if (this.templates.size >= 1000) this.templates.clear();
      t = compileTemplate(url);
      this.templates.set(url, t);
    }
    return t;
  }

  private async deliver(r: Reservation): Promise<void> {
    let route: Route = { kind: "send" };
    if (r.endpoint.destinationId !== undefined || r.endpoint.accountId !== undefined) {
      try {
        route = await this.destinations.route(r.endpoint);
      } catch (err) {
        this.o.logger.error({ err, postback_id: r.postbackId }, "could not read the postback's destination; trying again later");
        this.finish({ settlement: { reservation: r, settle: { kind: "release", at: Date.now() + BUSY_ORIGIN_DELAY } } });
        return;
      }
    }
    if (route.kind === "hold") {
      this.counts.held++;
      this.finish({ settlement: { reservation: r, settle: { kind: "hold" } } });
      return;
    }
    if (route.kind === "cancel") {
      this.counts.cancelled++;
      this.o.logger.info({ postback_id: r.postbackId, reason: route.reason }, "postback cancelled");
      const cancel: CancelRecord = { postbackId: r.postbackId, endpoint: r.endpoint, data: r.data, createdAt: r.createdAt, at: Date.now(), reason: route.reason };
      this.finish({ settlement: { reservation: r, settle: { kind: "done" } }, cancel });
      return;
    }
    const destination = route.destination;
    // A destination's current settings win; the endpoint keeps what was current at push time.
    const method = destination?.method ?? r.endpoint.method;
    const defaultValue = destination?.defaultValue ?? r.endpoint.defaultValue;
    const urlTemplate = destination?.url ?? r.endpoint.url;
    // The lease must outlast an attempt, or a slow one could be delivered twice meanwhile.
    const timeoutMs = Math.min(destination?.timeoutMs ?? this.o.timeoutMs, Math.floor(this.o.leaseMs / 2));
    const template = this.template(urlTemplate);
    const withBody = sendsBody(method);
    let url = urlTemplate;
    let sent: SendResult | undefined;
    try {
      const data = template.keys.length > 0 || (destination && !withBody) ? (JSON.parse(r.data) as Record<string, unknown>) : {};
      url = renderTemplate(template, data, defaultValue);
      // A GET destination without placeholders gets the object's fields as query parameters.
      if (destination && !withBody && template.keys.length === 0) url = appendQuery(url, data, defaultValue);
    } catch (err) {
      // Ingest checked the data, so this should not happen; if it does, record it, never guess a URL.
      const message = `could not render the URL template: ${(err as Error).message}`;
      sent = { result: { kind: "error", code: "invalid_url", message }, responseBody: null, errorMessage: message };
    }
    const startedAt = Date.now();
    let durationMs = 0;
    let limited = false;
    if (!sent && destination) {
      const wait = await this.destinationLimiter.acquire(destination.id, destination);
      if (wait > 0) {
        this.finish({ settlement: { reservation: r, settle: { kind: "release", at: Date.now() + wait } } });
        return;
      }
      limited = destination.concurrency !== null || destination.rateLimit !== null;
    }
    if (!sent) {
      const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(url)?.[0] ?? url;
      // Each origin may hold a fair share of the worker's slots (at least two rounds of its own
      // concurrency): one busy partner alone can use them all, a hung one among others cannot.
      const share = Math.floor(this.o.concurrency / Math.max(1, this.limiter.size));
      const maxWaiting = Math.max(this.o.originConcurrency, share - this.o.originConcurrency);
      const slot = this.limiter.acquire(origin, maxWaiting);
      const got = slot === true || slot === false ? slot : await slot;
      if (!got) {
        if (limited) this.destinationLimiter.release(destination!.id);
        this.finish({ settlement: { reservation: r, settle: { kind: "release", at: Date.now() + BUSY_ORIGIN_DELAY } } });
        return;
      }
      const controller = new AbortController();
      this.inFlight.add(controller);
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, timeoutMs);
      // The destination's own headers first: Ferry's signature headers must not be overridden.
      const headers: Record<string, string> = {
        ...destination?.headers,
        "user-agent": this.o.userAgent ?? "Ferry",
        "webhook-id": r.postbackId,
      };
      if (withBody) headers["content-type"] = "application/json";
      if (route.key) Object.assign(headers, signatureHeaders(route.key, r.postbackId, withBody ? r.data : ""));
      const t0 = performance.now();
      sent = await this.o.sender.send({ method, url, headers, body: withBody ? r.data : undefined, timeoutMs }, controller.signal);
      durationMs = Math.round((performance.now() - t0) * 100) / 100;
      clearTimeout(timer);
      this.inFlight.delete(controller);
      this.limiter.release(origin);
      if (limited) this.destinationLimiter.release(destination!.id);
      if (controller.signal.aborted && !timedOut && sent.result.kind === "error") {
        // Shutdown cut it short before an answer: not an attempt to blame the destination for.
        this.finish({ settlement: { reservation: r, settle: { kind: "release", at: Date.now() } } });
        return;
      }
    }
    const policy: RetryPolicy = {
      // Fixed when the data was queued (a resend widens it), not read from the destination.
      maxAttempts: r.endpoint.maxAttempts,
      baseDelayMs: this.o.retryBaseMs,
      maxDelayMs: this.o.retryMaxDelayMs,
    };
    const now = Date.now();
    const decision = decide(sent.result, r.attempt, policy, now);
    const statusCode = sent.result.kind === "response" ? sent.result.status : null;
    const error = sent.result.kind === "error" ? sent.result.code : null;
    const state = decision.kind === "delivered" ? "delivered" : decision.kind === "retry" ? "failed" : "dead";
    const settle: Settle = decision.kind === "retry" ? { kind: "retry", at: decision.at } : { kind: "done" };
    const record: AttemptRecord = {
      postbackId: r.postbackId,
      endpoint: r.endpoint,
      data: r.data,
      createdAt: r.createdAt,
      attempt: r.attempt,
      startedAt,
      durationMs,
      url,
      statusCode,
      error,
      errorMessage: sent.errorMessage,
      responseBody: sent.responseBody,
      state,
      nextAttemptAt: decision.kind === "retry" ? decision.at : null,
      reason: decision.kind === "delivered" ? null : decision.reason,
    };
    let failure: DestinationFailure | undefined;
    if (destination && state !== "delivered") {
      failure = {
        destinationId: destination.id,
        at: now,
        threshold: destination.failureThreshold ?? this.o.failureThreshold,
        windowMs: destination.failureWindowMs ?? this.o.failureWindowMs,
      };
    }
    this.counts.attempts++;
    this.counts[state === "delivered" ? "delivered" : state === "failed" ? "retried" : "dead"]++;
    // The one log line per attempt the seed asks for: time, method, URL, code, latency, body.
    this.o.logger.info(
      {
        postback_id: r.postbackId,
        attempt: r.attempt,
        method,
        url,
        destination_id: destination?.id,
        status_code: statusCode,
        duration_ms: durationMs,
        response_body: sent.responseBody,
        error,
        state,
        next_attempt_at: record.nextAttemptAt === null ? undefined : new Date(record.nextAttemptAt).toISOString(),
      },
      "attempt",
    );
    this.finish({ settlement: { reservation: r, settle }, record, failure });
  }

  private disabled(ids: string[]): void {
    for (const id of ids) {
      this.counts.disabled++;
      this.destinations.forget(id);
      this.o.logger.warn({ destination_id: id }, "destination disabled by endpoint health; its postbacks are held until it is enabled again");
    }
  }

  private finish(item: Done): void {
    if (item.settlement.settle.kind === "release") this.counts.released++;
    this.done.push(item);
    this.flushing ??= this.flushLoop();
  }

  /**
   * A postback's slot is freed only once it is settled (or its settle failed): until then a
   * crash would deliver it again, so a killed worker duplicates at most `concurrency` postbacks.
   */
  private free(count: number): void {
    this.held -= count;
    this.wakeLoop?.();
    if (this.held === 0 && this.idle) {
      const idle = this.idle;
      this.idle = undefined;
      idle();
    }
  }

  /** Records and settles all finished work; resolves when nothing is left to write. */
  private async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.done.length) {
      this.flushing = this.flushLoop();
      await this.flushing;
    }
  }

  private async flushLoop(): Promise<void> {
    // Gather what finishes in the next few milliseconds, so a busy worker writes a few large
    // batches (one commit each) rather than many small ones.
    await new Promise((resolve) => setTimeout(resolve, FLUSH_DELAY_MS));
    try {
      while (this.done.length) {
        const items = this.done;
        this.done = [];
        try {
          const records: AttemptRecord[] = [];
          const cancels: CancelRecord[] = [];
          const failures: DestinationFailure[] = [];
          for (const item of items) {
            if (item.record) records.push(item.record);
            if (item.cancel) cancels.push(item.cancel);
            if (item.failure && item.failure.threshold > 0) failures.push(item.failure);
          }
          await this.o.stores.postbacks.recordAttempts(records);
          if (cancels.length) await this.o.stores.postbacks.recordCancelled(cancels);
          // Counted once the attempts are recorded; a retried flush may count a failure twice,
          // which only disables a failing destination a little sooner.
          if (failures.length) this.disabled(await this.o.stores.accounts.recordFailures(failures));
          await this.o.queue.settle(items.map((i) => i.settlement));
          if (this.writeFailures > 0) this.o.logger.info({ postbacks: items.length }, "recording attempts again; resuming");
          this.writeFailures = 0;
          this.free(items.length);
        } catch (err) {
          this.writeFailures++;
          if (this.stopping && this.writeFailures >= GIVE_UP_WRITES_ON_STOP) {
            // Not settled: their leases run out and they are delivered again by another worker.
            this.o.logger.error({ err, postbacks: items.length }, "could not record attempts before stopping; they will be delivered again when their lease ends");
            this.free(items.length);
            continue;
          }
          // Keep them, holding their slots, and try again: if the store or queue is back within
          // the lease, nothing is delivered twice. Meanwhile the loop reserves nothing.
          const delay = Math.min(5 * SECOND, 100 * 2 ** this.writeFailures);
          this.o.logger.error({ err, postbacks: items.length, retry_in_ms: delay }, "could not record attempts; backing off");
          this.done = items.concat(this.done);
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
      }
    } finally {
      this.flushing = undefined;
    }
  }
}
