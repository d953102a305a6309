/**
 * The queue port: postbacks owed and not yet settled. In Ferry's words, with no SQL or Redis
 * type in it; every adapter passes test/conformance/queue.ts.
 *
 * Life of an entry: enqueue → (reserve → settle retry)* → reserve → settle done|dead.
 * A reservation is a lease: if its holder dies, the entry can be reserved again once the lease
 * ends, so every entry is delivered at least once. Each reservation counts as an attempt
 * (a worker that crashes on a postback must not retry it forever), except one given back
 * with `release`.
 */
import type { Endpoint } from "../core/types.js";
import type { AttemptRecord, CancelRecord, DestinationFailure } from "../store/port.js";

export interface NewPostback {
  id: string;
  /** The data object as JSON text. */
  data: string;
  /**
   * Attempts made before, when a postback is sent again (a resend): its next reservation is
   * attempt `attempts + 1`, so attempt numbers never repeat in its history. Default 0.
   */
  attempts?: number;
  /**
   * Its line, when its destination keeps order (issue 14): entries with the same order key
   * are reserved one at a time, in the order they were enqueued. The head of a line (its
   * oldest entry not done) is the only one that can be reserved; while it is leased, waiting
   * for a retry, released or held, the entries behind it wait too, however due they are.
   * When it is settled done, the next becomes due (at once, or at its own due time if later).
   * Entries without a key, or of other keys, are never slowed by a line. Set by the app from
   * the destination's ordering: the destination id ("destination"), or the destination id and
   * the rendered ordering_key ("key").
   */
  orderKey?: string;
}

/** What one ingest request adds: its endpoint once, and one postback per data object. */
export interface EnqueueBatch {
  endpoint: Endpoint;
  postbacks: NewPostback[];
  /** ms since the epoch */
  createdAt: number;
}

/** What `enqueue` was given, as a list of batches. */
export function batchList(batches: EnqueueBatch | readonly EnqueueBatch[]): readonly EnqueueBatch[] {
  return "endpoint" in batches ? [batches] : batches;
}

/** A postback reserved for delivery. */
export interface Reservation {
  postbackId: string;
  endpoint: Endpoint;
  data: string;
  /** 1 for the first attempt. */
  attempt: number;
  createdAt: number;
  /** Proof of the lease: a settle names it, and is ignored once another reservation took the entry. */
  lease: string;
}

/** What to do with a reserved entry. */
export type Settle =
  /** Delivered, or dead: it leaves the queue. */
  | { kind: "done" }
  /** Try again at `at` (ms since the epoch). */
  | { kind: "retry"; at: number }
  /** Not attempted (shutdown, a busy destination): back to the queue at `at`, the attempt not counted. */
  | { kind: "release"; at: number }
  /**
   * Not attempted: its destination (`endpoint.destinationId`) is disabled. Parked, never due,
   * until `unhold` names that destination; the attempt not counted.
   */
  | { kind: "hold" };

export interface Settlement {
  reservation: Reservation;
  settle: Settle;
}

/** A postback still in the queue, as the API shows it. */
export interface QueuedPostback {
  postbackId: string;
  endpoint: Endpoint;
  data: string;
  /** Attempts started so far (including one in flight). */
  attempts: number;
  /** When it may next be reserved, or when the current lease ends; null while held. */
  dueAt: number | null;
  /** Parked while its destination is disabled. */
  held: boolean;
  createdAt: number;
}

export interface QueueStats {
  /** Entries that could be reserved now. */
  ready: number;
  /** Entries waiting for a later time (retries, releases) or leased. */
  waiting: number;
}

/** Which queued entries listQueued lists: held ones, or those not held (due, waiting, leased). */
export interface QueuedFilter {
  held: boolean;
  /** Entries of these destinations only; all when undefined. */
  destinationIds?: readonly string[] | undefined;
  /** Ids before this one (the last id of the previous page). */
  beforeId?: string | undefined;
  limit: number;
}

/**
 * Entries a queue listing or count looks at, at most, where the adapter has no index for it
 * (Redis keeps none by destination or by id order): the answer stays bounded however long the
 * queue, and is exact whenever the queue (or a destination's holds) is smaller than this.
 */
export const QUEUE_SCAN_LIMIT = 5000;

export interface Queue {
  /**
   * Adds one batch, or several (a fan-out: one event to many destinations) atomically: every
   * postback of every batch is queued, or none is. A postback id already queued, or repeated
   * within or across the batches, fails the whole call with DuplicateIdError; an unreachable
   * queue with QueueUnavailableError (src/core/port-errors.ts). When the promise resolves,
   * every postback is durably stored. Batches without postbacks add nothing.
   */
  enqueue(batches: EnqueueBatch | readonly EnqueueBatch[]): Promise<void>;
  /**
   * Reserves up to `max` entries due at `now`, leased until `now + leaseMs`, oldest due first
   * within each account, shared fairly among accounts (issue 14): when several accounts
   * (`endpoint.accountId`; entries without one form one more) have entries due, each gets
   * its part of the reservation however old the others' backlog is, so one account's million
   * queued postbacks cannot starve another's fresh ones. Only the head of an ordered line
   * (NewPostback.orderKey) is reserved.
   */
  reserve(max: number, leaseMs: number, now?: number): Promise<Reservation[]>;
  /** Settles reserved entries in one step. Returns how many still had a current lease (a stale settle changes nothing). */
  settle(settlements: Settlement[]): Promise<number>;
  /**
   * Settles these entries, then reserves up to `max` due entries leased for `leaseMs`, as one
   * step where the adapter can (one transaction, one round trip): the same as settle then reserve.
   */
  settleAndReserve(settlements: Settlement[], max: number, leaseMs: number, now?: number): Promise<{ settled: number; reserved: Reservation[] }>;
  /**
   * Resolves when work may be ready: at once if some is due, when another enqueue in this
   * process or a due time arrives, or after `maxWaitMs` at the latest. Never rejects.
   */
  waitForWork(maxWaitMs: number): Promise<void>;
  /**
   * Work may have been queued through another connection of this process (the API's, when the
   * worker runs in a thread): wake this instance's waitForWork now rather than at its next poll.
   */
  notify(): void;
  /**
   * Makes every entry held for the destination due now (it was enabled again, or deleted and
   * its postbacks must be cancelled). Returns how many were released.
   */
  unhold(destinationId: string): Promise<number>;
  /** Destinations with held entries: the worker's sweep releases those enabled since. */
  heldDestinations(): Promise<string[]>;
  /**
   * Makes a queued entry that waits for a retry due at `at` (a resend of a failed postback).
   * False when the postback is not queued, held or leased right now.
   */
  reschedule(postbackId: string, at: number): Promise<boolean>;
  /** The queued entry for a postback, if it is still queued. */
  find(postbackId: string): Promise<QueuedPostback | undefined>;
  /**
   * Settles the fate of an enqueue call that failed with `maybeApplied` (its answer was lost),
   * named by its first postback id: "queued" when that postback is queued now (so the whole
   * call took effect); otherwise "withdrawn", and from then on (for `ttlMs`) that call can
   * never take effect, however late it reaches the queue. "withdrawn" does not mean the call
   * had no effect: its postbacks may have been queued and finished since (ask the store).
   */
  withdraw(firstPostbackId: string, ttlMs: number): Promise<"queued" | "withdrawn">;
  stats(now?: number): Promise<QueueStats>;
  /**
   * The due time of the entry ready longest (the smallest due time at or before `now`), or null
   * when none is ready: its age is how far delivery lags behind. Leased and held entries are not
   * ready. One index lookup, cheap enough for every metrics scrape.
   */
  oldestDueAt(now?: number): Promise<number | null>;
  /**
   * Queued entries, newest (greatest postback id) first: what the delivery log shows for
   * states pending and held, which only the queue knows. Bounded by QUEUE_SCAN_LIMIT (see there).
   */
  listQueued(filter: QueuedFilter): Promise<QueuedPostback[]>;
  /**
   * How many entries these destinations have in the queue together, held or not. SQLite counts them all (its
   * queue holds only what is owed); Redis counts every held one and those among the
   * QUEUE_SCAN_LIMIT latest of every lane and ordered line (entries waiting behind a line's
   * head included), so it is exact while the queue holds fewer than that.
   */
  countQueued(destinationIds: readonly string[]): Promise<number>;
  /** Rejects when the queue cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * What finished deliveries tell the store, written before their entries are settled: their
 * attempts, cancels and holds, failures for endpoint health, and what partners asked of their
 * destinations (a pause on 429/503 with Retry-After, disabling on 410 Gone).
 */
export interface FinishedWork {
  records: AttemptRecord[];
  cancels: CancelRecord[];
  held: { destinationId: string; accountId: string | undefined; at: number }[];
  failures: DestinationFailure[];
  /** The longest pause asked of each destination. */
  pauses: { destinationId: string; until: number; reason: string }[];
  /** Destinations that answered 410 Gone: disabled as gone, unless disabled already. */
  gone: string[];
  /** ms since the epoch, for the disables. */
  at: number;
}

/** What writing finished work changed, for the worker to act on once it is written. */
export interface FinishedWorkWritten {
  /** Destinations endpoint health disabled. */
  disabled: string[];
  /** Destinations disabled as gone by this write (not those disabled before). */
  gone: string[];
}

/**
 * Optional, offered where the queue and the stores share one transaction (the embedded SQLite
 * file): "write finished work and take more" as one atomic step. Without it, the worker writes
 * the store through the store ports, then calls settleAndReserve.
 */
export interface FinishAndTake {
  /**
   * Writes `work` (nothing when undefined), settles `settlements`, then reserves up to `max`
   * due entries leased for `leaseMs`, in one transaction: all of it happens, or (it rejects)
   * none of it. Entries are settled only with their attempts recorded, in the same commit.
   */
  finishAndTake(
    work: FinishedWork | undefined,
    settlements: Settlement[],
    max: number,
    leaseMs: number,
    now?: number,
  ): Promise<{ written: FinishedWorkWritten; settled: number; reserved: Reservation[] }>;
}
