/**
 * The delivery worker: reserves postbacks from the queue, sends each once, records the attempt
 * in the store and settles the entry. Outcomes are recorded and settled in batches.
 *
 * Invariant: an entry is settled only after its attempt is recorded. If the process dies in
 * between, the lease runs out and the postback is delivered again: at least once, never lost.
 */
import type { Logger } from "pino";
import type { FinishAndTake, FinishedWork, FinishedWorkWritten, Queue, Reservation, Settlement } from "../queue/port.js";
import type { AttemptRecord, CancelRecord, DestinationFailure, Stores } from "../store/port.js";
import { appendQuery, compileTemplate, renderTemplate, type CompiledTemplate } from "../core/template.js";
import { signatureHeaders } from "../core/signing.js";
import type { RetryPolicy } from "../core/retry.js";
import { DISABLED_GONE, destinationSendsBody, sendsBody, type Destination, type HttpMethod } from "../core/types.js";
import { SECOND } from "../core/time.js";
import { BoundedMap } from "../core/bounded-map.js";
import { congestionOf, type Congestion } from "../core/aimd.js";
import { BUSY_ORIGIN_DELAY, OriginLimiter, type Ended } from "./origin-limiter.js";
import { DestinationCache, type Route } from "./destinations.js";
import { DestinationLimiter, type LimitEvent, type Slot } from "./destination-limiter.js";
import type { LimitStore } from "../limits/port.js";
import type { Exchange } from "./exchange.js";
import { DestinationPacing, PACED_DELAY } from "./destination-pacing.js";
import { PartnerSignals } from "./partner-signals.js";
import { outcome, pauseAsked, type Outcome, type Pause } from "./outcome.js";
import type { SendResult, Sender } from "./sender.js";
import { AttemptLog } from "./attempt-log.js";

export interface WorkerOptions {
  queue: Queue;
  stores: Pick<Stores, "postbacks" | "accounts">;
  /**
   * Where the queue and stores share one transaction (the embedded default): finished work's
   * store writes, its settle and the next reservation in one. Without it, the store ports, then
   * queue.settleAndReserve.
   */
  finishAndTake?: FinishAndTake | undefined;
  sender: Sender;
  /** Where destinations' concurrency and rate limits are kept (shared by every worker on Redis). */
  limits: LimitStore;
  logger: Logger;
  /** Postbacks a worker has at once (reserved, not yet settled), all origins together. */
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
  /** Told what happens, for /metrics (src/delivery/metrics.ts); called on the hot path, so no I/O. */
  observer?: DeliveryObserver;
}

/** What the worker reports as it goes: one call per outcome, nothing else. */
export interface DeliveryObserver {
  attempt(outcome: "delivered" | "retried" | "dead", destinationId: string | undefined, durationMs: number): void;
  /** Reserved but not attempted: parked for a disabled destination, cancelled, or given back. */
  notAttempted(outcome: "held" | "cancelled" | "released", destinationId: string | undefined): void;
  /** Endpoint health disabled this many destinations. */
  disabled(count: number): void;
  /** A destination's limits made a postback wait, or sent it back to the queue. */
  limited?(event: LimitEvent): void;
  /** An origin's or a destination's limit was halved (adaptive pacing) on this sign of overload. */
  paced(scope: "origin" | "destination", signal: Congestion): void;
  /** A destination was paused by its partner's Retry-After (by this worker). */
  paused(): void;
  /** A destination was disabled because it answered 410 Gone. */
  gone(): void;
}

interface Done {
  settlement: Settlement;
  record?: AttemptRecord;
  cancel?: CancelRecord;
  failure?: DestinationFailure;
  /** Its destination answered 429/503 with Retry-After: paused in the store with this flush. */
  pause?: Pause;
  /** Its destination answered 410 Gone: disabled in the store with this flush, before the settle. */
  gone?: string;
  /**
   * Its store writes went through in an earlier flush whose settle failed (the queue was away):
   * the retried flush only settles it, so the roll-ups behind stats count it once, not per try.
   */
  stored?: true;
}

/** Most entries reserved in one call: large enough to batch, small enough to share among workers. */
const RESERVE_BATCH = 128;
/** How long finished work waits to be written with what finishes after it. */
const FLUSH_DELAY_MS = 5;
/** On stop, failed writes after which finished work is left to lease expiry. */
const GIVE_UP_WRITES_ON_STOP = 3;
/** How often held postbacks are checked against their destination (a missed unhold heals here). */
const HOLD_SWEEP_MS = 5 * SECOND;
/** Compiled URL templates kept. */
const TEMPLATES = 1000;
/** scheme://host:port of a URL. */
const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;
/**
 * A postback of a paused destination comes back after the pause and up to this much more:
 * spread, so a long backlog does not all fall due in the same millisecond when it ends.
 */
const PAUSE_SPREAD_MS = 500;
/**
 * After a 410, this worker sends its destination nothing for this long (a local pause): by
 * then the flush has disabled it in the store, and its postbacks are held when next reserved.
 */
const GONE_GRACE_MS = 2 * SECOND;
/** Header names Ferry sets itself, which a destination's headers cannot replace: [body?, signed?]. */
const OWN = [[], ["content-type"], ["webhook-timestamp", "webhook-signature"], ["content-type", "webhook-timestamp", "webhook-signature"]].map(
  (names) => new Set(["user-agent", "webhook-id", ...names]),
);

/** A destination's headers that are the same for each of its postbacks, as a flat list. */
interface CommonHeaders {
  /** OWN's index: with a body, signed. */
  kind: number;
  list: string[];
}

/** A postback without a destination or account to look up is sent as queued. */
const SEND: Route = { kind: "send" };

/** One postback on its way out. */
interface Request {
  destination: Destination | undefined;
  key: Buffer | undefined;
  method: HttpMethod;
  withBody: boolean;
  url: string;
  timeoutMs: number;
  /** The latest time it may be sent: later, its lease could end before its attempt does. */
  deadline: number;
  startedAt: number;
  durationMs: number;
  /** How its request ended, once sent: for its origin's health. */
  ended: Ended;
  /** Set when it cannot be sent at all (its URL could not be rendered): recorded as the attempt. */
  unsendable: SendResult | undefined;
}

export class Worker {
  private readonly o: WorkerOptions;
  private readonly limiter: OriginLimiter;
  private readonly destinations: DestinationCache;
  private readonly destinationLimiter: DestinationLimiter;
  /** Adaptive pacing per destination (the origin's is in `limiter`). */
  private readonly pacing: DestinationPacing;
  /** Pacing, pauses and 410s, counted and logged (rate-limited). */
  private readonly signals: PartnerSignals;
  private readonly attemptLog: AttemptLog;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly templates = new BoundedMap<string, CompiledTemplate>(TEMPLATES);
  /** Exchanges in flight, aborted by a shutdown whose grace has passed. */
  private readonly inFlight = new Set<Exchange>();
  /** Headers the same for every postback of a destination (object identity: a changed one is new). */
  private readonly destinationHeaders = new WeakMap<Destination, CommonHeaders>();
  /** The same for postbacks without a destination, by OWN's index. */
  private readonly inlineHeaders: (CommonHeaders | undefined)[] = [undefined, undefined, undefined, undefined];
  /** Slots in use: postbacks reserved and not yet settled. */
  private busy = 0;
  /** Time kept between an attempt's end and its lease's end, to record and settle it. */
  private readonly leaseMargin: number;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private loop: Promise<void> | undefined;
  private wakeLoop: (() => void) | undefined;
  private done: Done[] = [];
  /** Failed writes in a row of finished work (records or settles); reservations stop meanwhile. */
  private writeFailures = 0;
  private flushing: Promise<void> | undefined;
  /**
   * A reservation is on its way (the run loop's, or a flush's settleAndReserve): never two at
   * once, or both could count the same free slots and `busy` pass `concurrency`.
   */
  private reserving = false;
  private idle: (() => void) | undefined;
  /** Counters for the logs and /metrics. */
  readonly counts = { attempts: 0, delivered: 0, retried: 0, dead: 0, released: 0, held: 0, cancelled: 0, disabled: 0, enabled: 0, paused: 0, gone: 0, paced: 0 };

  /** Postbacks reserved and not yet settled: in flight, for /metrics. */
  get inFlightCount(): number {
    return this.busy;
  }

  /** Origins and destinations paced below their full concurrency now, for /metrics. */
  pacedBelowFull(): { origins: number; destinations: number } {
    const now = Date.now();
    return { origins: this.limiter.belowFull(now), destinations: this.pacing.belowFull(now) };
  }

  constructor(options: WorkerOptions) {
    this.o = options;
    this.attemptLog = new AttemptLog(options.logger);
    this.signals = new PartnerSignals({ logger: options.logger, observer: options.observer, counts: this.counts, retryMaxDelayMs: options.retryMaxDelayMs });
    this.limiter = new OriginLimiter({
      perOrigin: options.originConcurrency,
      slots: options.concurrency,
      // Half the timeout: an origin slower than that is close to timing out, one merely slow is not.
      stallMs: Math.floor(options.timeoutMs / 2),
      onPace: (origin, from, to, signal) => this.signals.paced("origin", origin, from, to, signal),
    });
    this.pacing = new DestinationPacing({ onPace: (id, from, to, signal) => this.signals.paced("destination", id, from, to, signal) });
    this.leaseMargin = Math.min(5 * SECOND, Math.floor(options.leaseMs / 10));
    this.destinations = new DestinationCache(options.stores.accounts);
    const observer = options.observer;
    this.destinationLimiter = new DestinationLimiter({
      store: options.limits,
      logger: options.logger,
      ...(observer?.limited ? { observe: (event: LimitEvent) => observer.limited!(event) } : {}),
    });
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
    this.destinationLimiter.rejectWaiting();
    this.pacing.rejectWaiting();
    if (this.busy > 0) {
      const allDone = new Promise<void>((resolve) => (this.idle = resolve));
      const timer = setTimeout(() => {
        for (const exchange of this.inFlight) exchange.abort();
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
      const room = this.o.concurrency - this.busy;
      // While finished work cannot be written, take no more: it would only be delivered again.
      // A busy worker reserves as it settles (write); this loop takes over when work runs short.
      if (room <= 0 || this.writeFailures > 0 || this.reserving) {
        await this.sleep(this.o.pollIntervalMs);
        continue;
      }
      let batch: Reservation[];
      // Taken before reserving: the leases end no sooner than this plus leaseMs.
      const leaseEnd = Date.now() + this.o.leaseMs;
      this.reserving = true;
      try {
        batch = await this.o.queue.reserve(Math.min(room, RESERVE_BATCH), this.o.leaseMs);
        failures = 0;
      } catch (err) {
        failures++;
        this.o.logger.error({ err }, "could not reserve postbacks; backing off");
        await this.sleep(Math.min(5 * SECOND, 100 * 2 ** failures));
        continue;
      } finally {
        this.reserving = false;
      }
      this.take(batch, leaseEnd);
      if (batch.length === 0) {
        await Promise.race([this.o.queue.waitForWork(this.o.pollIntervalMs), this.sleep(this.o.pollIntervalMs)]);
      } else {
        // Let deliveries start and more work arrive, so the next reservation is a batch too.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }

  /**
   * Starts delivering reserved postbacks, each in a slot. A flush's reservation can arrive after
   * stop was called: given back unattempted then, settled by the flush that drains on stop.
   */
  private take(batch: Reservation[], leaseEnd: number): void {
    for (const reservation of batch) {
      this.busy++;
      if (this.stopping) this.giveBack(reservation, 0);
      else void this.deliver(reservation, leaseEnd);
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
      t = compileTemplate(url);
      this.templates.set(url, t);
    }
    return t;
  }

  /** One postback, step by step: route, render, acquire limits, send, decide, record and log. */
  private async deliver(r: Reservation, leaseEnd: number): Promise<void> {
    const route = r.endpoint.destinationId !== undefined || r.endpoint.accountId !== undefined ? await this.route(r) : SEND;
    if (route === undefined) return;
    if (route.kind === "hold") return this.park(r);
    if (route.kind === "cancel") return this.cancel(r, route.reason);
    if (route.kind === "paused") return this.waitOutPause(r, route.until);
    const request = this.prepare(r, route, leaseEnd);
    if (request.unsendable) return this.record(r, request, request.unsendable);
    const d = request.destination;
    // Adaptive pacing of the destination, beside its owner's limits (in sendWithinLimits).
    if (d) {
      let admitted = this.pacing.acquire(d.id, d.concurrency ?? this.o.originConcurrency, request.deadline);
      if (admitted instanceof Promise) admitted = await admitted;
      if (!admitted) return this.giveBack(r, PACED_DELAY);
    }
    const sent = await this.sendWithinLimits(r, request);
    if (d) this.pacing.release(d.id, sent === undefined ? "aborted" : request.ended);
    if (sent !== undefined) this.record(r, request, sent);
  }

  /** The postback's destination and account as they are now; undefined when given back. */
  private async route(r: Reservation): Promise<Route | undefined> {
    try {
      return await this.destinations.route(r.endpoint);
    } catch (err) {
      this.o.logger.error({ err, postback_id: r.postbackId }, "could not read the postback's destination; trying again later");
      this.giveBack(r, BUSY_ORIGIN_DELAY);
      return undefined;
    }
  }

  /** Its destination is disabled: parked until it is enabled again. */
  private park(r: Reservation): void {
    this.counts.held++;
    this.o.observer?.notAttempted("held", r.endpoint.destinationId);
    this.finish({ settlement: { reservation: r, settle: { kind: "hold" } } });
  }

  private cancel(r: Reservation, reason: string): void {
    this.counts.cancelled++;
    this.o.observer?.notAttempted("cancelled", r.endpoint.destinationId);
    this.o.logger.info({ postback_id: r.postbackId, reason }, "postback cancelled");
    const cancel: CancelRecord = { postbackId: r.postbackId, endpoint: r.endpoint, data: r.data, createdAt: r.createdAt, at: Date.now(), reason };
    this.finish({ settlement: { reservation: r, settle: { kind: "done" } }, cancel });
  }

  /** Not attempted: back to the queue in `delayMs`, the attempt not counted. */
  private giveBack(r: Reservation, delayMs: number): void {
    this.finish({ settlement: { reservation: r, settle: { kind: "release", at: Date.now() + delayMs } } });
  }

  /** Its destination is paused: back to the queue until the pause ends (spread a little), not an attempt. */
  private waitOutPause(r: Reservation, until: number): void {
    this.giveBack(r, until - Date.now() + Math.floor(Math.random() * PAUSE_SPREAD_MS));
  }

  /** The request to send: the destination's current settings, the URL rendered, the timeout and deadline. */
  private prepare(r: Reservation, route: Route & { kind: "send" }, leaseEnd: number): Request {
    const destination = route.destination;
    // A destination's current settings win; the endpoint keeps what was current at push time.
    const method = destination?.method ?? r.endpoint.method;
    const urlTemplate = destination?.url ?? r.endpoint.url;
    // The lease must outlast an attempt, or a slow one could be delivered twice meanwhile.
    const timeoutMs = Math.min(destination?.timeoutMs ?? this.o.timeoutMs, Math.floor(this.o.leaseMs / 2));
    const request: Request = {
      destination,
      key: route.key,
      method,
      withBody: destination ? destinationSendsBody(method) : sendsBody(method),
      url: urlTemplate,
      timeoutMs,
      // The latest start whose attempt still ends (and is recorded) within the lease.
      deadline: leaseEnd - timeoutMs - this.leaseMargin,
      startedAt: Date.now(),
      durationMs: 0,
      ended: "answered",
      unsendable: undefined,
    };
    try {
      request.url = this.render(r, urlTemplate, destination, request.withBody);
    } catch (err) {
      // Ingest checked the data, so this should not happen; if it does, record it, never guess a URL.
      const message = `could not render the URL template: ${(err as Error).message}`;
      request.unsendable = { result: { kind: "error", code: "invalid_url", message }, responseBody: null, errorMessage: message };
    }
    return request;
  }

  private render(r: Reservation, urlTemplate: string, destination: Destination | undefined, withBody: boolean): string {
    const template = this.template(urlTemplate);
    const defaultValue = destination?.defaultValue ?? r.endpoint.defaultValue;
    const data = template.keys.length > 0 || (destination && !withBody) ? (JSON.parse(r.data) as Record<string, unknown>) : {};
    const url = renderTemplate(template, data, defaultValue);
    // A GET destination without placeholders gets the object's fields as query parameters.
    return destination && !withBody && template.keys.length === 0 ? appendQuery(url, data, defaultValue) : url;
  }

  /**
   * Takes the destination's and the origin's limits, then sends. Undefined when the postback
   * was given back to the queue instead (limits full, its deadline passed, or shutdown).
   */
  private async sendWithinLimits(r: Reservation, q: Request): Promise<SendResult | undefined> {
    const d = q.destination;
    // A destination without limits asks no store at all: unlimited throughput is unchanged.
    let held: Slot | undefined;
    if (d !== undefined && (d.concurrency !== null || d.rateLimit !== null)) {
      // The slot's lease lasts as long as the postback's: a killed worker's slots come back then.
      const got = await this.destinationLimiter.acquire(d.id, d, q.deadline, this.o.leaseMs);
      if (typeof got === "number") {
        this.giveBack(r, got);
        return undefined;
      }
      held = got;
    }
    const origin = ORIGIN.exec(q.url)?.[0] ?? q.url;
    const slot = this.limiter.acquire(origin, q.deadline, q.timeoutMs);
    const admission = typeof slot === "number" ? slot : await slot;
    if (admission > 0) {
      if (held) this.destinationLimiter.release(d!.id, held);
      this.giveBack(r, admission);
      return undefined;
    }
    // Paused (Retry-After) while it waited for its limits: not sent, back until the pause ends.
    const pausedUntil = d === undefined ? 0 : this.destinations.pausedHere(d.id);
    if (pausedUntil > Date.now()) {
      this.limiter.release(origin, "aborted");
      if (held) this.destinationLimiter.release(d!.id, held);
      this.waitOutPause(r, pausedUntil);
      return undefined;
    }
    const sent = await this.send(r, q);
    this.limiter.release(origin, q.ended, Date.now(), q.durationMs);
    if (held) this.destinationLimiter.release(d!.id, held);
    if (q.ended === "aborted" && sent.result.kind === "error") {
      // Shutdown cut it short before an answer: not an attempt to blame the destination for.
      this.giveBack(r, 0);
      return undefined;
    }
    return sent;
  }

  /** Sends the request within its timeout; sets its duration and how it ended. */
  private async send(r: Reservation, q: Request): Promise<SendResult> {
    const body = q.withBody ? r.data : undefined;
    const t0 = performance.now();
    const exchange = this.o.sender.start({ method: q.method, url: q.url, headers: this.headers(r, q), body, timeoutMs: q.timeoutMs });
    this.inFlight.add(exchange);
    const sent = await exchange.result;
    q.durationMs = Math.round((performance.now() - t0) * 100) / 100;
    this.inFlight.delete(exchange);
    q.ended = exchange.cutShort ?? congestionOf(sent.result) ?? "answered";
    // A pause (Retry-After) or 410 holds from now: before this postback's limits pass to the next.
    if (q.destination) {
      const until = pauseAsked(q.destination, sent.result, Date.now(), this.o.retryMaxDelayMs, GONE_GRACE_MS);
      if (until > 0) this.destinations.pause(q.destination.id, until);
    }
    return sent;
  }

  /**
   * The request's headers as a flat list of names and values. Ferry's own headers win over the
   * destination's: its signature headers must not be overridden. Names ignore case, so a
   * destination's "Content-Type" or "User-Agent" (Data Pusher's README destination sets
   * Content-Type) is left out rather than sent a second time. What is the same for every
   * postback of a destination is built once per destination object (a changed destination is
   * a new object from the cache) and copied; the id and signature are added per postback.
   */
  private headers(r: Reservation, q: Request): string[] {
    const common = this.commonHeaders(q.destination, q.withBody, q.key !== undefined);
    const headers = common.slice();
    headers.push("webhook-id", r.postbackId);
    if (q.key) {
      const signed = signatureHeaders(q.key, r.postbackId, q.withBody ? r.data : "");
      headers.push("webhook-timestamp", signed["webhook-timestamp"], "webhook-signature", signed["webhook-signature"]);
    }
    return headers;
  }

  /** The destination's own headers, then user-agent and content-type: the same for all its postbacks. */
  private commonHeaders(d: Destination | undefined, withBody: boolean, signed: boolean): readonly string[] {
    const kind = (withBody ? 1 : 0) + (signed ? 2 : 0);
    const cached = d === undefined ? this.inlineHeaders[kind] : this.destinationHeaders.get(d);
    // A destination's method and secret are fixed for the object, so these are too; checked all the same.
    if (cached !== undefined && cached.kind === kind) return cached.list;
    const own = OWN[kind]!;
    const list: string[] = [];
    for (const [name, value] of Object.entries(d?.headers ?? {})) if (!own.has(name.toLowerCase())) list.push(name, value);
    list.push("user-agent", this.o.userAgent ?? "Ferry");
    if (withBody) list.push("content-type", "application/json");
    const entry = { kind, list };
    if (d === undefined) this.inlineHeaders[kind] = entry;
    else this.destinationHeaders.set(d, entry);
    return list;
  }

  /** Decides what the attempt means, counts and logs it, and queues it to be recorded and settled. */
  private record(r: Reservation, q: Request, sent: SendResult): void {
    const policy: RetryPolicy = {
      // Fixed when the data was queued (a resend widens it), not read from the destination.
      maxAttempts: r.endpoint.maxAttempts,
      baseDelayMs: this.o.retryBaseMs,
      maxDelayMs: this.o.retryMaxDelayMs,
    };
    const attempt = { reservation: r, url: q.url, sent, startedAt: q.startedAt, durationMs: q.durationMs, destination: q.destination };
    const now = Date.now();
    const o = outcome(attempt, policy, this.o, now);
    const { record, settle, failure, counter } = o;
    this.counts.attempts++;
    this.counts[counter]++;
    this.o.observer?.attempt(counter, r.endpoint.destinationId, q.durationMs);
    this.log(q, record);
    const done: Done = { settlement: { reservation: r, settle }, record };
    if (failure) done.failure = failure;
    if (q.destination) this.partnerAsked(q.destination, o, done, now);
    this.finish(done);
  }

  /**
   * What the partner's answer asks of its whole destination: a pause (429 or 503 with
   * Retry-After), taken here at once and stored with the flush, which other workers read
   * within their destination cache's 1 s; or, on 410 Gone, to be disabled with the flush.
   */
  private partnerAsked(d: Destination, o: Outcome, done: Done, now: number): void {
    if (o.retryAfterProblem) this.signals.retryAfterProblem(d.id, o.retryAfterProblem, now);
    if (o.pause) {
      // Paused here already (send); stored with the flush.
      done.pause = o.pause;
      this.signals.paused(o.pause, now);
    }
    // Paused here already (send) while the flush disables it in the store.
    if (o.gone) done.gone = d.id;
  }

  /** The one log line per attempt the seed asks for: time, method, URL, code, latency, body. */
  private log(q: Request, record: AttemptRecord): void {
    this.attemptLog.write(record, { method: q.method, destinationId: q.destination?.id });
  }

  private disabled(ids: string[]): void {
    this.o.observer?.disabled(ids.length);
    for (const id of ids) {
      this.counts.disabled++;
      this.destinations.forget(id);
      this.o.logger.warn({ destination_id: id }, "destination disabled by endpoint health; its postbacks are held until it is enabled again");
    }
  }

  private finish(item: Done): void {
    if (item.settlement.settle.kind === "release") {
      this.counts.released++;
      this.o.observer?.notAttempted("released", item.settlement.reservation.endpoint.destinationId);
    }
    this.done.push(item);
    this.flushing ??= this.flushLoop();
  }

  /**
   * A postback's slot is freed only once it is settled (or its settle failed): until then a
   * crash would deliver it again, so a killed worker duplicates at most `concurrency` postbacks.
   */
  private free(count: number): void {
    this.busy -= count;
    this.wakeLoop?.();
    if (this.busy === 0 && this.idle) {
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
          await this.write(items);
        } catch (err) {
          await this.writeFailed(items, err);
        }
        // A turn of the event loop before writing what finished meanwhile, so the postbacks
        // `write` just reserved reach their sockets. Without it, those given back at once (an
        // origin not yet proven, or at its limit) were settled and replaced by new reservations
        // in a loop of microtasks that never let a request out: a `ferry start` with a backlog
        // of 200,000 sent nothing at all, and one of 20,000 only once it had cycled through all.
        if (this.done.length) await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.flushing = undefined;
    }
  }

  /**
   * Records the attempts, cancels and failures of finished work, then settles it, and frees its
   * slots. With room for more (not stopping, writes not failing, no other reservation on its
   * way), the same queue step reserves the next batch and starts it: a busy worker's cycle is
   * one call to the queue, not a settle and a reserve.
   */
  private async write(items: Done[]): Promise<void> {
    const fresh = items.filter((i) => !i.stored);
    const settlements = items.map((i) => i.settlement);
    const room = this.o.concurrency - this.busy + items.length;
    const max = this.stopping || this.writeFailures > 0 || this.reserving ? 0 : Math.min(room, RESERVE_BATCH);
    // Taken before reserving: the leases end no sooner than this plus leaseMs.
    const leaseEnd = Date.now() + this.o.leaseMs;
    if (max > 0) this.reserving = true;
    try {
      let reserved: Reservation[];
      if (this.o.finishAndTake) {
        // One transaction: a failure writes nothing, so a retried flush writes everything again.
        const work = fresh.length ? this.finishedWork(fresh) : undefined;
        const done = await this.o.finishAndTake.finishAndTake(work, settlements, max, this.o.leaseMs);
        if (work) this.written(work, done.written);
        reserved = done.reserved;
      } else {
        if (fresh.length) await this.store(fresh);
        reserved = (await this.o.queue.settleAndReserve(settlements, max, this.o.leaseMs)).reserved;
      }
      if (this.writeFailures > 0) this.o.logger.info({ postbacks: items.length }, "recording attempts again; resuming");
      this.writeFailures = 0;
      this.free(items.length);
      this.take(reserved, leaseEnd);
    } finally {
      if (max > 0) this.reserving = false;
    }
  }

  /** What finished work tells the store, in one piece (FinishedWork). */
  private finishedWork(items: Done[]): FinishedWork {
    const at = Date.now();
    const work: FinishedWork = { records: [], cancels: [], held: [], failures: [], pauses: [], gone: [], at };
    const pauses = new Map<string, Pause>();
    const gone = new Set<string>();
    for (const item of items) {
      if (item.record) work.records.push(item.record);
      if (item.cancel) work.cancels.push(item.cancel);
      if (item.failure && item.failure.threshold > 0) work.failures.push(item.failure);
      // Holds are no attempts; the delivery log's roll-ups count them (issue 11).
      const { reservation: r, settle } = item.settlement;
      if (settle.kind === "hold" && r.endpoint.destinationId !== undefined) work.held.push({ destinationId: r.endpoint.destinationId, accountId: r.endpoint.accountId, at });
      // The longest pause per destination.
      if (item.pause && (pauses.get(item.pause.destinationId)?.until ?? 0) < item.pause.until) pauses.set(item.pause.destinationId, item.pause);
      if (item.gone) gone.add(item.gone);
    }
    work.pauses = [...pauses.values()];
    work.gone = [...gone];
    return work;
  }

  /** Once finished work is written in one transaction (finishAndTake): what it changed, told. */
  private written(work: FinishedWork, written: FinishedWorkWritten): void {
    if (written.disabled.length) this.disabled(written.disabled);
    // Read again on its next postback: the stored pause or disable from now on.
    for (const p of work.pauses) this.destinations.forget(p.destinationId);
    for (const id of work.gone) this.destinations.forget(id);
    for (const id of written.gone) this.signals.gone(id);
  }

  /**
   * Writes what finished work tells the store, through the store ports (without finishAndTake).
   * Once it went through, the items are marked: if
   * the settle then fails (Redis restarting), the retried flush does not write them again, as
   * each write of an attempt adds to the per-minute roll-ups (a Redis outage of a few seconds
   * counted every postback then in flight up to six times in `GET /v1/destinations/{id}/stats`).
   */
  private async store(items: Done[]): Promise<void> {
    const work = this.finishedWork(items);
    await this.o.stores.postbacks.recordAttempts(work.records);
    if (work.cancels.length) await this.o.stores.postbacks.recordCancelled(work.cancels);
    if (work.held.length) await this.o.stores.postbacks.recordHeld(work.held);
    // Counted once the attempts are recorded; a retried flush may count a failure twice,
    // which only disables a failing destination a little sooner.
    if (work.failures.length) this.disabled(await this.o.stores.accounts.recordFailures(work.failures));
    await this.partnerRequests(work);
    for (const item of items) item.stored = true;
  }

  /**
   * Stores the pauses (the longest per destination) and the 410 Gone disables of finished work.
   * Before the settle: a postback held for a destination still enabled would be released by the
   * hold sweep. Repeated by a retried flush, which changes nothing (a pause only lengthens, a
   * destination is disabled as gone only while enabled).
   */
  private async partnerRequests(work: FinishedWork): Promise<void> {
    for (const p of work.pauses) {
      await this.o.stores.accounts.pauseDestination(p.destinationId, p.until, p.reason);
      // Read again on its next postback: the stored pause from now on (and its end, if the owner ends it).
      this.destinations.forget(p.destinationId);
    }
    for (const id of work.gone) {
      this.destinations.forget(id);
      // Disabled once: a destination disabled already (by another worker's 410, by this
      // flush's earlier try, or by its owner, whose reason stays) is neither disabled nor counted again.
      const current = await this.o.stores.accounts.getDestination(id);
      if (!current?.enabled) continue;
      await this.o.stores.accounts.updateDestination(id, { enabled: false, disabledReason: DISABLED_GONE }, work.at);
      this.signals.gone(id);
    }
  }

  private async writeFailed(items: Done[], err: unknown): Promise<void> {
    this.writeFailures++;
    if (this.stopping && this.writeFailures >= GIVE_UP_WRITES_ON_STOP) {
      // Not settled: their leases run out and they are delivered again by another worker.
      this.o.logger.error({ err, postbacks: items.length }, "could not record attempts before stopping; they will be delivered again when their lease ends");
      this.free(items.length);
      return;
    }
    // Keep them, in their slots, and try again: if the store or queue is back within
    // the lease, nothing is delivered twice. Meanwhile the loop reserves nothing.
    const delay = Math.min(5 * SECOND, 100 * 2 ** this.writeFailures);
    this.o.logger.error({ err, postbacks: items.length, retry_in_ms: delay }, "could not record attempts; backing off");
    this.done = items.concat(this.done);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
