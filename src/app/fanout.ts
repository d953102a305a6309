/**
 * Event fan-out: a stored event becomes one postback per destination of its account subscribed
 * to its category (`event_types`), delivered like a push, the body being the whole event.
 *
 * Storing an event writes its outbox entry in the same transaction (EventStore.insertEvents);
 * this step queues the postbacks and only then takes the event off the outbox. A crash in
 * between leaves it on, so it is fanned out again: the postback ids are made from the event
 * and destination ids (core/ids.ts eventPostbackId), so the queue refuses what is still queued,
 * and anything delivered already goes again with the same `webhook-id` (at least once).
 */
import { DuplicateIdError } from "../core/port-errors.js";
import { eventPostbackId } from "../core/ids.js";
import type { StoredEvent } from "../core/events.js";
import type { Destination } from "../core/types.js";
import type { EnqueueBatch } from "../queue/port.js";
import type { Ports } from "./ports.js";
import { destinationBatch, inLine, pushTargets, type PushDefaults } from "./push.js";
import { orderKeyRule, type OrderKeyRule } from "../core/ordering.js";
import { eventJson } from "./events.js";

export interface FanoutResult {
  /** Events taken off the outbox. */
  events: number;
  /** Postbacks queued for them. */
  postbacks: number;
}

/**
 * Fans out up to `limit` events from the outbox, oldest first. `olderThan` (ms since the epoch)
 * leaves younger events to the process that stored them (a sweep for leftovers passes it).
 * Queue and store failures propagate; what was not marked is simply tried again later.
 */
export async function fanOutEvents(
  ports: Ports,
  defaults: PushDefaults,
  options: { limit: number; olderThan?: number; now?: number },
): Promise<FanoutResult> {
  const now = options.now ?? Date.now();
  let events = await ports.stores.events.pendingFanout(options.limit);
  if (options.olderThan !== undefined) events = events.filter((e) => e.receivedAt < options.olderThan!);
  if (events.length === 0) return { events: 0, postbacks: 0 };

  const destinations = new Map<string, Destination[]>();
  for (const accountId of new Set(events.map((e) => e.accountId))) {
    destinations.set(accountId, await ports.stores.accounts.accountDestinations(accountId));
  }
  const perEvent = events.map((event) => eventPostbacks(event, destinations.get(event.accountId) ?? []));
  let postbacks = 0;
  try {
    // One call for the lot, one batch per destination: the common case, nothing queued before.
    await ports.queue.enqueue(batches(perEvent.flat(), defaults, now));
    postbacks = perEvent.flat().length;
  } catch (err) {
    if (!(err instanceof DuplicateIdError)) throw err;
    // Some event was fanned out before a crash kept it on the outbox: queue event by event,
    // and an event whose postbacks are queued already is done (its earlier call was atomic).
    for (const one of perEvent) {
      try {
        await ports.queue.enqueue(batches(one, defaults, now));
        postbacks += one.length;
      } catch (eventErr) {
        if (!(eventErr instanceof DuplicateIdError)) throw eventErr;
      }
    }
  }
  await ports.stores.events.markFannedOut(events.map((e) => e.id));
  return { events: events.length, postbacks };
}

interface EventPostback {
  destination: Destination;
  accountId: string;
  id: string;
  data: string;
  /** The event as a data object, for an ordering key (parsed once, when first asked for). */
  object: () => Record<string, unknown>;
}

/** The event's postbacks: one per destination subscribed to its category. */
function eventPostbacks(event: StoredEvent, destinations: Destination[]): EventPostback[] {
  const data = eventJson(event);
  let parsed: Record<string, unknown> | undefined;
  const object = () => (parsed ??= JSON.parse(data) as Record<string, unknown>);
  return pushTargets(destinations, event.category).map((d) => ({ destination: d, accountId: event.accountId, id: eventPostbackId(event.id, d.id), data, object }));
}

/** The postbacks as batches, one per destination. */
function batches(postbacks: EventPostback[], defaults: PushDefaults, now: number): EnqueueBatch[] {
  const byDestination = new Map<string, EnqueueBatch>();
  const lines = new Map<string, OrderKeyRule | undefined>();
  for (const p of postbacks) {
    let batch = byDestination.get(p.destination.id);
    if (!batch) {
      byDestination.set(p.destination.id, (batch = destinationBatch(p.destination, defaults, p.accountId, now)));
      lines.set(p.destination.id, orderKeyRule(p.destination));
    }
    batch.postbacks.push(inLine({ id: p.id, data: p.data }, lines.get(p.destination.id), p.object));
  }
  return [...byDestination.values()];
}

/**
 * Runs the fan-out in the API process: at once when events are stored (`kick`, off the request
 * path), and every `sweepMs` for leftovers, such as events another process stored and then died
 * before fanning out. A sweep leaves events younger than `graceMs` to the process that stored
 * them, so two processes seldom fan out one event (if they do, the ids repeat: see above).
 */
export class FanoutRunner {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly ports: Ports,
    private readonly defaults: PushDefaults,
    private readonly options: {
      batch: number;
      sweepMs: number;
      graceMs: number;
      /** Postbacks were queued (this many): wake the worker. */
      onQueued?: ((postbacks: number) => void) | undefined;
      onError: (err: unknown) => void;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => this.run(Date.now() - this.options.graceMs), this.options.sweepMs);
    this.timer.unref();
  }

  /** Events were stored: fan them out as soon as the current run, if any, is over. */
  kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.run(undefined);
  }

  /** Stops the sweeps and waits for a run in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  private run(olderThan: number | undefined): void {
    if (this.running || this.stopped) return;
    this.running = (async () => {
      try {
        do {
          this.again = false;
          for (;;) {
            const done = await fanOutEvents(this.ports, this.defaults, { limit: this.options.batch, ...(olderThan === undefined ? {} : { olderThan }) });
            if (done.postbacks > 0) this.options.onQueued?.(done.postbacks);
            if (done.events < this.options.batch || this.stopped) break;
          }
        } while (this.again && !this.stopped);
      } catch (err) {
        // Left on the outbox: the next kick or sweep tries again.
        this.options.onError(err);
      } finally {
        this.running = undefined;
      }
    })();
  }
}
