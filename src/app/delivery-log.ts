/**
 * The delivery log (issue 11): searching what was delivered, and the counts behind the
 * dashboard. Recorded postbacks (an attempt made, or cancelled) come from the store's indexes;
 * pending and held ones, which only the queue knows, from the queue. Counts come from the
 * store's per-minute roll-ups, never from raw rows.
 */
import type { Destination, PostbackState } from "../core/types.js";
import { HOUR_MS, MINUTE_MS, percentiles, postbackIdAt, type Percentiles } from "../core/delivery-log.js";
import type { LoggedPostback, RollupBucket } from "../store/port.js";
import type { QueueStats } from "../queue/port.js";
import type { Ports } from "./ports.js";

/** The states a search takes: the store's, and held (a view state: parked in the queue). */
export type LogState = PostbackState | "held";
export const LOG_STATES: readonly LogState[] = ["pending", "failed", "delivered", "dead", "held", "cancelled"];

export interface LogQuery {
  /** Only this account's (an account token's own, or the admin's choice). */
  accountId?: string | undefined;
  destinationId?: string | undefined;
  state?: LogState | undefined;
  /** created_at ≥ since, < until (ms), as the postback's id records it. */
  since?: number | undefined;
  until?: number | undefined;
  statusCode?: number | undefined;
  /** A postback id or its start (`pb_…`), else text in the last attempt's URL or error. */
  q?: string | undefined;
  after?: string | undefined;
  limit: number;
}

export interface LogItem extends Omit<LoggedPostback, "state"> {
  state: LogState;
}

export interface LogResult {
  items: LogItem[];
  next: string | null;
}

const min = (a: string | undefined, b: string | undefined): string | undefined => (a === undefined ? b : b === undefined ? a : a < b ? a : b);

export async function searchLog(ports: Ports, query: LogQuery): Promise<LogResult> {
  const beforeId = min(query.after, query.until === undefined ? undefined : postbackIdAt(query.until));
  const fromId = query.since === undefined ? undefined : postbackIdAt(query.since);
  const idPrefix = query.q?.startsWith("pb_") ? query.q : undefined;
  const text = idPrefix === undefined ? query.q : undefined;
  if (query.state === "pending" || query.state === "held") {
    return searchQueue(ports, { ...query, state: query.state }, { beforeId, fromId, idPrefix, text });
  }
  const page = await ports.stores.postbacks.searchPostbacks({
    accountId: query.accountId,
    destinationId: query.destinationId,
    state: query.state,
    fromId,
    beforeId,
    statusCode: query.statusCode,
    idPrefix,
    text,
    limit: query.limit,
  });
  return { items: page.items, next: page.next };
}

/**
 * Pending and held postbacks, from the queue: one page of its listing, each with its store
 * record when it has one (a postback retried after a failed attempt shows as failed, so it is
 * left out of pending, as GET /v1/postbacks/{id} would call it failed). Filters the queue has
 * no index for are checked on the page, so a page may come back short, with a cursor.
 */
async function searchQueue(
  ports: Ports,
  query: LogQuery & { state: "pending" | "held" },
  bounds: { beforeId: string | undefined; fromId: string | undefined; idPrefix: string | undefined; text: string | undefined },
): Promise<LogResult> {
  let destinationIds: string[] | undefined;
  if (query.destinationId !== undefined) destinationIds = [query.destinationId];
  else if (query.accountId !== undefined) destinationIds = (await ports.stores.accounts.accountDestinations(query.accountId)).map((d) => d.id);
  if (destinationIds?.length === 0) return { items: [], next: null };
  const queued = await ports.queue.listQueued({ held: query.state === "held", destinationIds, beforeId: bounds.beforeId, limit: query.limit });
  const records = await Promise.all(queued.map((q) => ports.stores.postbacks.getPostback(q.postbackId)));
  const items: LogItem[] = [];
  queued.forEach((q, i) => {
    const record = records[i];
    if (query.state === "pending" && record?.state === "failed") return;
    if (bounds.fromId !== undefined && q.postbackId < bounds.fromId) return;
    if (bounds.idPrefix !== undefined && !q.postbackId.startsWith(bounds.idPrefix)) return;
    const last = record?.attempts[record.attempts.length - 1];
    if (query.statusCode !== undefined && last?.statusCode !== query.statusCode) return;
    if (bounds.text !== undefined && !(last && (last.url.includes(bounds.text) || (last.error ?? "").includes(bounds.text)))) return;
    items.push({
      id: q.postbackId,
      state: query.state,
      accountId: q.endpoint.accountId ?? null,
      destinationId: q.endpoint.destinationId ?? null,
      createdAt: q.createdAt,
      updatedAt: record?.updatedAt ?? q.createdAt,
      attempts: record?.attempts.length ?? 0,
      lastAttempt: last ? { at: last.startedAt, statusCode: last.statusCode, error: last.error, durationMs: last.durationMs, url: last.url } : null,
    });
  });
  // Ids only go down: past fromId nothing further can match.
  const pastRange = bounds.fromId !== undefined && queued.length > 0 && queued[queued.length - 1]!.postbackId < bounds.fromId;
  return { items, next: queued.length === query.limit && !pastRange ? queued[queued.length - 1]!.postbackId : null };
}

export type Bucket = "minute" | "hour";
export const BUCKET_MS: Record<Bucket, number> = { minute: MINUTE_MS, hour: HOUR_MS };
/** The most buckets one stats answer holds: 25 hours of minutes, or 62 days of hours. */
export const MAX_BUCKETS = 1500;

export interface StatsRange {
  since: number;
  until: number;
  bucket: Bucket;
}

/** Bucket starts from the one holding `since` up to `until` (exclusive); how many there would be. */
export function bucketCount(range: StatsRange): number {
  const b = BUCKET_MS[range.bucket];
  const first = Math.floor(range.since / b) * b;
  return Math.max(0, Math.ceil((range.until - first) / b));
}

export interface Stats {
  buckets: RollupBucket[];
  latency: Percentiles | null;
}

/** Roll-ups of a destination, an account, or everything, one bucket per step (empty ones filled). */
export async function rollupStats(ports: Ports, scope: { destinationId?: string; accountId?: string }, range: StatsRange): Promise<Stats> {
  const b = BUCKET_MS[range.bucket];
  const from = Math.floor(range.since / b) * b;
  const summary = await ports.stores.postbacks.rollups({ ...scope, from, to: range.until, bucketMs: b });
  const byStart = new Map(summary.buckets.map((x) => [x.start, x]));
  const buckets: RollupBucket[] = [];
  for (let start = from; start < range.until; start += b) {
    const empty: RollupBucket = { start, delivered: 0, retry: 0, dead: 0, cancelled: 0, held: 0 };
    buckets.push(byStart.get(start) ?? empty);
  }
  return { buckets, latency: percentiles(summary.latency) };
}

export interface DestinationStats extends Stats {
  destination: Destination;
  queueDepth: number;
  lastError: { at: number; statusCode: number | null; error: string | null } | null;
}

export async function destinationStats(ports: Ports, destination: Destination, range: StatsRange): Promise<DestinationStats> {
  const [stats, queueDepth, lastError] = await Promise.all([
    rollupStats(ports, { destinationId: destination.id }, range),
    ports.queue.countQueued([destination.id]),
    ports.stores.postbacks.lastError(destination.id),
  ]);
  return { ...stats, destination, queueDepth, lastError: lastError ?? null };
}

/**
 * The top chart: an account's destinations summed (or everything, for the admin), with the
 * queue. The queue does not split its counts by account: an account gets its own postbacks in
 * the queue as `ready` (held ones too) and `waiting` 0; the admin the queue's own stats.
 */
export async function overallStats(ports: Ports, accountId: string | undefined, range: StatsRange): Promise<Stats & { queue: QueueStats }> {
  if (accountId === undefined) {
    const [stats, queue] = await Promise.all([rollupStats(ports, {}, range), ports.queue.stats()]);
    return { ...stats, queue };
  }
  const destinations = await ports.stores.accounts.accountDestinations(accountId);
  const [stats, queued] = await Promise.all([
    rollupStats(ports, { accountId }, range),
    ports.queue.countQueued(destinations.map((d) => d.id)),
  ]);
  return { ...stats, queue: { ready: queued, waiting: 0 } };
}

/**
 * Retention of the delivery log: deletes delivered, dead and cancelled postbacks (with their
 * attempts) last changed longer than `retentionMs` ago, `batch` per short transaction, with a
 * turn of the event loop between batches so ingest never waits long behind a delete. Owed
 * postbacks (failed: a retry is due) stay; so do the roll-ups. 0 = keep forever.
 */
export async function deleteExpiredPostbacks(
  ports: Ports,
  options: { retentionMs: number; batch: number; now?: number; shouldStop?: () => boolean },
): Promise<number> {
  if (options.retentionMs <= 0) return 0;
  const before = (options.now ?? Date.now()) - options.retentionMs;
  let deleted = 0;
  for (;;) {
    if (options.shouldStop?.()) return deleted;
    const n = await ports.stores.postbacks.deleteFinishedBefore(before, options.batch);
    deleted += n;
    if (n < options.batch) return deleted;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
