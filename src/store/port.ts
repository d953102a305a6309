/**
 * The store port: what happened to every postback — its endpoint, data, state and attempts.
 * Written by workers after each attempt, in batches; read by the API. In Ferry's words, with
 * no SQL type in it. Each port has its own conformance suite in test/conformance/.
 */
import type { Account, Destination, Endpoint, PostbackState, Token } from "../core/types.js";
import type { AttemptErrorCode } from "../core/errors.js";
import type { AccountPatch, DestinationPatch } from "../core/patches.js";
import type { DestinationFailure } from "../core/endpoint-health.js";
import type { IdempotencyClaim } from "../core/idempotency.js";
import type { EventTimeUs, EventType, StoredEvent } from "../core/events.js";
import type { RollupCounts } from "../core/delivery-log.js";

// Defined with the rules in src/core that use them; part of the ports' vocabulary, so callers
// keep importing them from here.
export type { AccountPatch, DestinationPatch, DestinationFailure, IdempotencyClaim };

/** One attempt: when, where, and what came back. */
export interface Attempt {
  attempt: number;
  /** ms since the epoch */
  startedAt: number;
  durationMs: number;
  /** The URL the attempt was sent to. */
  url: string;
  /** null when no response came. */
  statusCode: number | null;
  /** Set when no response came. */
  error: AttemptErrorCode | null;
  errorMessage: string | null;
  /** The first bytes of the response body. */
  responseBody: string | null;
}

/** One attempt and the postback state it leads to: what a worker records. */
export interface AttemptRecord extends Attempt {
  postbackId: string;
  endpoint: Endpoint;
  /** The data object as JSON text. */
  data: string;
  createdAt: number;
  /** The postback's state after this attempt: failed means a retry is scheduled. */
  state: Exclude<PostbackState, "pending">;
  nextAttemptAt: number | null;
  /** Why the postback is dead, or why this attempt failed. */
  reason: string | null;
}

/** A postback with its whole history. */
export interface PostbackRecord {
  id: string;
  endpoint: Endpoint;
  data: string;
  state: PostbackState;
  createdAt: number;
  updatedAt: number;
  nextAttemptAt: number | null;
  reason: string | null;
  attempts: Attempt[];
}

/** A postback settled without an attempt: cancelled, because its account or destination is gone. */
export interface CancelRecord {
  postbackId: string;
  endpoint: Endpoint;
  data: string;
  createdAt: number;
  /** When it was cancelled. */
  at: number;
  reason: string;
}

/** One page of a listing in id order (ids sort by creation time). */
export interface Page {
  /** List items whose id sorts after this one. */
  after?: string | undefined;
  limit: number;
}

/** A postback as listed for a resend: enough to queue it again. */
export interface ResendCandidate {
  id: string;
  endpoint: Endpoint;
  data: string;
  state: PostbackState;
  createdAt: number;
  /** Attempts recorded so far. */
  attempts: number;
}

/**
 * The store is three ports, one per kind of caller, so each depends only on what it uses and an
 * adapter implements each directly (no forwarding class). Each has its own conformance suite.
 */

/** What happened to every postback: written by workers after each attempt, read by the API. */
export interface PostbackStore {
  /** Records attempts and the state they lead to, atomically, in one round trip where it can. */
  recordAttempts(records: AttemptRecord[]): Promise<void>;
  /** Records postbacks cancelled without an attempt (state "cancelled"). */
  recordCancelled(records: CancelRecord[]): Promise<void>;
  /** A postback with its attempts, or undefined if no attempt was recorded for it yet. */
  getPostback(id: string): Promise<PostbackRecord | undefined>;
  /**
   * The destination's postbacks in state failed or dead created within [from, to), oldest
   * first, at most `limit` of them after the id `after`: what a replay sends again.
   */
  listFailedPostbacks(destinationId: string, range: { from: number; to: number }, page: Page): Promise<ResendCandidate[]>;
  /** How many postbacks listFailedPostbacks would list in all: the total a replay's progress shows. */
  countFailedPostbacks(destinationId: string, range: { from: number; to: number }): Promise<number>;
}

/** Which recorded postbacks a delivery-log search lists: every filter given must hold. */
export interface LogFilter {
  accountId?: string | undefined;
  destinationId?: string | undefined;
  /** A state as the store records it (pending and held live in the queue). */
  state?: Exclude<PostbackState, "pending"> | undefined;
  /** Ids at or after this one (a time, as core/delivery-log.ts postbackIdAt makes it). */
  fromId?: string | undefined;
  /** Ids before this one, exclusive: the page's keyset (the last id shown) or an until time. */
  beforeId?: string | undefined;
  /** The last attempt's HTTP status. */
  statusCode?: number | undefined;
  /** Ids starting with this. */
  idPrefix?: string | undefined;
  /** Contained in the last attempt's URL or error code (case-sensitive). */
  text?: string | undefined;
  limit: number;
}

/** A recorded postback as the delivery log lists it, with its last attempt. */
export interface LoggedPostback {
  id: string;
  state: PostbackState;
  accountId: string | null;
  destinationId: string | null;
  createdAt: number;
  updatedAt: number;
  attempts: number;
  lastAttempt: { at: number; statusCode: number | null; error: string | null; durationMs: number; url: string } | null;
}

export interface LogPage {
  items: LoggedPostback[];
  /**
   * Where the next page starts (its beforeId), or null when the listing is done. Filters that no
   * index serves (status code, text) look at a bounded number of rows per page, so a page may
   * come back short, or empty, with a cursor to go on from.
   */
  next: string | null;
}

/** Which roll-ups to add up: a destination's, an account's, or all; minutes in [from, to). */
export interface RollupFilter {
  destinationId?: string | undefined;
  accountId?: string | undefined;
  from: number;
  to: number;
  /** 60000 (minutes) or 3600000 (hours); bucket starts are multiples of it. */
  bucketMs: number;
}

export interface RollupBucket extends Omit<RollupCounts, "latency"> {
  start: number;
}

export interface RollupSummary {
  /** Buckets with something counted, oldest first (the API fills the empty ones). */
  buckets: RollupBucket[];
  /** The latency histogram over the whole range (LATENCY_BUCKETS counts). */
  latency: number[];
}

/** The delivery log: searching recorded postbacks, per-destination roll-ups, and retention. */
export interface DeliveryLog {
  /** Recorded postbacks matching the filter, newest (greatest id) first. */
  searchPostbacks(filter: LogFilter): Promise<LogPage>;
  /**
   * Outcome counts per bucket and a latency histogram, from the roll-ups written with each
   * batch of recordAttempts / recordCancelled / recordHeld: never from the raw rows, so they
   * survive retention and cost the same whatever the number of postbacks.
   */
  rollups(filter: RollupFilter): Promise<RollupSummary>;
  /** The destination's latest failed attempt, from the roll-ups. */
  lastError(destinationId: string): Promise<{ at: number; statusCode: number | null; error: string | null } | undefined>;
  /** Counts postbacks parked for their disabled destination (not attempts) in the roll-ups. */
  recordHeld(held: { destinationId: string; accountId: string | undefined; at: number }[]): Promise<void>;
  /**
   * Deletes, in one short transaction, at most `limit` postbacks in a final state (delivered,
   * dead, cancelled) last changed before `before`, with their attempts; never one still owed
   * (failed). Roll-ups stay. Returns how many went: fewer than `limit` means none is left now.
   */
  deleteFinishedBefore(before: number, limit: number): Promise<number>;
}

/** Accounts, their tokens and their destinations, with each destination's endpoint health. */
export interface AccountStore {
  createAccount(account: Account): Promise<void>;
  getAccount(id: string): Promise<Account | undefined>;
  listAccounts(page: Page): Promise<Account[]>;
  /** The account with this external id (unique when set), if any. */
  findAccountByExternalId(externalId: string): Promise<Account | undefined>;
  /** The account after the patch, or undefined when there is none. */
  updateAccount(id: string, patch: AccountPatch, now: number): Promise<Account | undefined>;
  /**
   * Deletes the account with its tokens and destinations, in one transaction. Returns the ids of
   * the destinations deleted, or undefined when there was no such account.
   */
  deleteAccount(id: string): Promise<string[] | undefined>;

  /** Stores a token by the SHA-256 hash of its secret. */
  createToken(token: Token, hash: Buffer): Promise<void>;
  /** The token whose secret hashes to `hash` (revoked or not), with its account. */
  findToken(hash: Buffer): Promise<Token | undefined>;
  listTokens(accountId: string): Promise<Token[]>;
  /** Marks the token revoked at `now`; false when the account has no such token. */
  revokeToken(accountId: string, tokenId: string, now: number): Promise<boolean>;

  createDestination(destination: Destination): Promise<void>;
  getDestination(id: string): Promise<Destination | undefined>;
  listDestinations(accountId: string, page: Page): Promise<Destination[]>;
  /** Every destination of the account, enabled or not: what a push fans out to. */
  accountDestinations(accountId: string): Promise<Destination[]>;
  /** Every account's destinations, in id order, a page at a time (a broadcast reads them all). */
  listAllDestinations(page: Page): Promise<Destination[]>;
  /** The account's destination with this method and URL template, if any (re-registering one). */
  findDestination(accountId: string, method: string, url: string): Promise<Destination | undefined>;
  /**
   * The destination after the patch, or undefined when there is none. Enabling clears
   * disabledReason, disabledAt and the failure count; disabling sets disabledAt.
   */
  updateDestination(id: string, patch: DestinationPatch, now: number): Promise<Destination | undefined>;
  deleteDestination(id: string): Promise<boolean>;
  /**
   * Pauses the destination until `until` (its partner answered 429 or 503 with Retry-After):
   * sets pausedUntil and pauseReason unless it is already paused as long or longer. Does not
   * touch updatedAt (a pause is the partner's doing, not an edit). False when nothing changed
   * (no such destination, or a longer pause stands).
   */
  pauseDestination(id: string, until: number, reason: string): Promise<boolean>;
  /**
   * Counts failed attempts towards endpoint health, atomically per destination: a destination
   * with `threshold` failures within `windowMs` is disabled (enabled false, disabledReason set,
   * its failure count cleared). Returns the ids of the destinations this call disabled.
   */
  recordFailures(failures: DestinationFailure[]): Promise<string[]>;
  /** How many destinations are disabled now, of all accounts: for /metrics, read on each scrape. */
  countDisabledDestinations(): Promise<number>;
}

/** What makes a request or a pushed object count once: idempotency keys and content hashes. */
export interface DedupeStore {
  /**
   * Claims an idempotency key within a scope (the account, or the admin). A key answered or
   * claimed longer than `ttlMs` ago counts as new; a claim older than `staleMs` that was never
   * answered (its process died) may be taken over.
   */
  claimIdempotencyKey(scope: string, key: string, fingerprint: string, now: number, ttlMs: number, staleMs: number): Promise<IdempotencyClaim>;
  /** Stores the answer sent for a claimed key. */
  answerIdempotencyKey(scope: string, key: string, status: number, body: string, now: number): Promise<void>;
  /** Gives up a claim (the request failed), so that the key can be used again. */
  releaseIdempotencyKey(scope: string, key: string): Promise<void>;
  /**
   * Marks a claimed key unresolved at `now`: the request's outcome is unknown, and `pending`
   * says how to find it out. Claims then get { kind: "unresolved", pending } until the key
   * is answered (answerIdempotencyKey), retaken, or expires with the ttl.
   */
  leaveIdempotencyKeyUnresolved(scope: string, key: string, pending: string, now: number): Promise<void>;
  /**
   * Claims an unresolved key again, at `now`, for a retry that found the first request had no
   * effect. True when this call owns the key; false when it is not unresolved any more (a
   * concurrent retry took or answered it first).
   */
  retakeIdempotencyKey(scope: string, key: string, now: number): Promise<boolean>;
  /**
   * Content-hash duplicate detection: marks each hash seen by the account at `now` and says,
   * per hash in order, whether it was already seen within `windowMs` (true = a duplicate).
   * A hash repeated within one call is a duplicate from its second occurrence.
   */
  markSeen(accountId: string, hashes: string[], now: number, windowMs: number): Promise<boolean[]>;
  /** Forgets hashes marked by a push that then failed to queue, so that sending it again is not a duplicate. */
  unmarkSeen(accountId: string, hashes: string[]): Promise<void>;
  /** Deletes idempotency keys and content hashes older than `before`. */
  pruneDedupe(before: number): Promise<void>;
}

/** What insertEvents did with one event of the batch, in the batch's order. */
export interface InsertedEvent {
  /** The id the event is stored under: its own, or the earlier event's for a repeated client id. */
  id: string;
  /** False when the account already had an event with this client id (or it came earlier in the batch). */
  created: boolean;
}

export type InsertEventsResult = InsertedEvent[];

/** Where an event listing resumes: after the event with this time and id. */
export interface EventCursor {
  timestampUs: EventTimeUs;
  id: string;
}

/** Which of an account's events to list: every filter given must hold. */
export interface EventFilter {
  accountId: string;
  sessionId?: string | undefined;
  category?: string | undefined;
  name?: string | undefined;
  /** Events at or after this time. */
  fromUs?: EventTimeUs | undefined;
  /** Events before this time (exclusive). */
  toUs?: EventTimeUs | undefined;
  after?: EventCursor | undefined;
  limit: number;
}

/** A session's events, all of them (not only those within a range): how many, first and last time. */
export interface SessionSummary {
  count: number;
  firstUs: EventTimeUs;
  lastUs: EventTimeUs;
}

export interface SessionListing extends SessionSummary {
  sessionId: string;
}

/** Where a session listing resumes: after the session with this last time and id. */
export interface SessionCursor {
  lastUs: EventTimeUs;
  sessionId: string;
}

/** Which of an account's sessions to list. */
export interface SessionFilter {
  accountId: string;
  /** Sessions whose last event is at or after this time. */
  fromUs?: EventTimeUs | undefined;
  /** Sessions whose first event is before this time. */
  toUs?: EventTimeUs | undefined;
  /** Sessions with at least one event sent by this application. */
  name?: string | undefined;
  after?: SessionCursor | undefined;
  limit: number;
}

/**
 * Events (seed 001) and the JSON Schemas of their categories: written by the events API, read
 * by its queries, drained by the fan-out job (the outbox) and pruned by the retention job.
 */
export interface EventStore {
  /**
   * Stores the events, all or none, each with its fan-out outbox entry in the same transaction.
   * An event whose client id the account already has (or that an earlier event of the batch
   * has) is not stored again: its result names the stored event's id, created false. A Ferry
   * id already stored rejects with DuplicateIdError and writes nothing.
   */
  insertEvents(events: StoredEvent[]): Promise<InsertEventsResult>;
  /** The account's events matching the filter, ordered by timestampUs, then id. */
  queryEvents(filter: EventFilter): Promise<StoredEvent[]>;
  getEvent(accountId: string, id: string): Promise<StoredEvent | undefined>;
  /** The whole session's count and first and last times; undefined when it has no events. */
  sessionSummary(accountId: string, sessionId: string): Promise<SessionSummary | undefined>;
  /**
   * Sessions active within [fromUs, toUs): their first event before toUs and their last at or
   * after fromUs. Counts and times are the whole session's (what its own view shows), kept in a
   * summary per session, so a listing never aggregates events. Ordered by last time, then
   * session id: the scan starts at fromUs, so a recent range is cheap however long the history.
   * A session that gets a later event during a listing moves further on: it may be listed
   * twice, never missed.
   */
  listSessions(filter: SessionFilter): Promise<SessionListing[]>;

  /** Registers the category's schema: version 1, or the current version + 1 when it replaces one. */
  putEventType(accountId: string, category: string, schema: string, description: string | null, now: number): Promise<EventType>;
  getEventType(accountId: string, category: string): Promise<EventType | undefined>;
  /** The account's event types in category order, after the category `page.after`. */
  listEventTypes(accountId: string, page: Page): Promise<EventType[]>;
  deleteEventType(accountId: string, category: string): Promise<boolean>;

  /**
   * Events stored but not yet fanned out, oldest (by id) first. Read again until marked: a
   * crash between queueing their postbacks and marking them queues them again (at least once).
   */
  pendingFanout(limit: number): Promise<StoredEvent[]>;
  /** Takes the events off the outbox; ids not on it are ignored. */
  markFannedOut(ids: string[]): Promise<void>;

  /**
   * Deletes, in one short transaction, at most `limit` of the account's events received before
   * `before` (ms), oldest first, never one still pending fan-out; session summaries follow.
   * Returns how many went: fewer than `limit` means none is left to delete now. Per account,
   * so each account's retention can differ; the job walks the accounts.
   */
  deleteEventsReceivedBefore(accountId: string, before: number, limit: number): Promise<number>;
}

/** The stores of one backend, opened together: what the wiring hands out. */
export interface Stores {
  postbacks: PostbackStore & DeliveryLog;
  accounts: AccountStore;
  dedupe: DedupeStore;
  events: EventStore;
  /** Rejects when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
