/**
 * The delivery log's SQL, shared by the SQLite and Postgres stores: the search query built from
 * the filters given, and rows read back into the port's words. Only the placeholders and how an
 * id is compared (Postgres: bytewise, COLLATE "C", as ULIDs sort) differ.
 */
import { HOUR_MS, LATENCY_BUCKETS, OUTCOMES, type RollupDelta } from "../core/delivery-log.js";
import type { PostbackState } from "../core/types.js";
import type { LogFilter, LoggedPostback, RollupBucket, RollupFilter, RollupSummary } from "./port.js";

/**
 * Rows a page with a filter no index serves (delivered, status code, text) looks at, at most: a page costs
 * the same however rare the match, and comes back short with a cursor when the budget runs out.
 */
export const SCAN_BUDGET = 5000;

export interface Dialect {
  /** The placeholder of the n-th parameter (1-based). */
  param(n: number): string;
  /** The id column as compared and ordered on. */
  id: string;
  /** SQL true when `needle` (a placeholder) is contained in `column`. */
  contains(column: string, needle: string): string;
}

export const LOG_COLUMNS =
  "id, state, account_id, destination_id, created_at, updated_at, attempts, last_at, last_status, last_error, last_duration_ms, last_url";

export interface LogRow {
  id: string;
  state: string;
  account_id: string | null;
  destination_id: string | null;
  created_at: number | string;
  updated_at: number | string;
  attempts: number;
  last_at: number | string | null;
  last_status: number | null;
  last_error: string | null;
  last_duration_ms: number | null;
  last_url: string | null;
}

export function loggedFromRow(r: LogRow): LoggedPostback {
  return {
    id: r.id,
    state: r.state as PostbackState,
    accountId: r.account_id,
    destinationId: r.destination_id,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    attempts: r.attempts,
    lastAttempt:
      r.last_at === null
        ? null
        : { at: Number(r.last_at), statusCode: r.last_status, error: r.last_error, durationMs: Number(r.last_duration_ms), url: r.last_url ?? "" },
  };
}

export interface SearchSql {
  /** The page: up to limit + 1 rows, newest first. */
  page: { text: string; values: unknown[] };
  /** Set when a residual filter applies: the last row the budget reaches, if there are that many. */
  lastScanned?: { text: string; values: unknown[] };
}

/**
 * The search as SQL. Equality filters and id bounds go to the index (account, destination or
 * state, then id; or the primary key); state=delivered, the status code and text filters are
 * checked on at most SCAN_BUDGET rows of that walk.
 */
export function searchSql(f: LogFilter, d: Dialect): SearchSql {
  const values: unknown[] = [];
  const p = (v: unknown): string => {
    values.push(v);
    return d.param(values.length);
  };
  const indexed: string[] = [];
  if (f.accountId !== undefined) indexed.push(`account_id = ${p(f.accountId)}`);
  if (f.destinationId !== undefined) indexed.push(`destination_id = ${p(f.destinationId)}`);
  // The state indexes are partial, WHERE state <> 'delivered': most postbacks are delivered,
  // so they stay small and cost a write only for the rare states. Their condition is repeated
  // word for word, as SQLite uses a partial index only for a query that states it.
  if (f.state !== undefined && f.state !== "delivered") indexed.push(`state = ${p(f.state)}`, "state <> 'delivered'");
  if (f.fromId !== undefined) indexed.push(`${d.id} >= ${p(f.fromId)}`);
  if (f.beforeId !== undefined) indexed.push(`${d.id} < ${p(f.beforeId)}`);
  if (f.idPrefix !== undefined) {
    // "~" sorts after every character an id has, so [prefix, prefix~) is every id it starts.
    indexed.push(`${d.id} >= ${p(f.idPrefix)}`, `${d.id} < ${p(f.idPrefix + "~")}`);
  }
  const where = indexed.length ? `WHERE ${indexed.join(" AND ")}` : "";
  const indexedValues = [...values];
  const residual: string[] = [];
  // Delivered ones are most rows: the walk without a state finds them at once, within the budget.
  if (f.state === "delivered") residual.push("state = 'delivered'");
  if (f.statusCode !== undefined) residual.push(`last_status = ${p(f.statusCode)}`);
  if (f.text !== undefined) {
    // Given twice: SQLite's placeholders are positional.
    residual.push(`(${d.contains("last_url", p(f.text))} OR ${d.contains("last_error", p(f.text))})`);
  }
  // The limit is a parameter, so each filter combination is one statement whatever the limit.
  const limit = p(f.limit + 1);
  if (residual.length === 0) {
    return { page: { text: `SELECT ${LOG_COLUMNS} FROM postbacks ${where} ORDER BY ${d.id} DESC LIMIT ${limit}`, values } };
  }
  return {
    page: {
      text: `SELECT ${LOG_COLUMNS} FROM (SELECT ${LOG_COLUMNS} FROM postbacks ${where} ORDER BY ${d.id} DESC LIMIT ${SCAN_BUDGET}) s
             WHERE ${residual.join(" AND ")} ORDER BY ${d.id} DESC LIMIT ${limit}`,
      values,
    },
    lastScanned: { text: `SELECT id FROM postbacks ${where} ORDER BY ${d.id} DESC LIMIT 1 OFFSET ${SCAN_BUDGET - 1}`, values: indexedValues },
  };
}

/** The page and where the next one starts, from the rows of searchSql's queries. */
export function pageOf(rows: LogRow[], limit: number, lastScanned: string | undefined): { items: LoggedPostback[]; next: string | null } {
  if (rows.length > limit) {
    const items = rows.slice(0, limit).map(loggedFromRow);
    return { items, next: items[items.length - 1]!.id };
  }
  // Short: the walk ended, or the scan budget did; then every match before lastScanned is shown.
  return { items: rows.map(loggedFromRow), next: lastScanned ?? null };
}

/** The latency columns of a roll-up row: l0 … l11. */
export const LATENCY_COLUMNS = Array.from({ length: LATENCY_BUCKETS }, (_, i) => `l${i}`);
export const COUNT_COLUMNS = [...OUTCOMES];

/** A roll-up row's values, in ROLLUP_COLUMNS order. */
export const ROLLUP_COLUMNS = ["destination_id", "minute", "account_id", ...COUNT_COLUMNS, ...LATENCY_COLUMNS, "last_error_at", "last_error_status", "last_error"];

export function rollupValues(r: RollupDelta): unknown[] {
  return [r.destinationId, r.minute, r.accountId, ...OUTCOMES.map((o) => r[o]), ...r.latency, r.lastError?.at ?? null, r.lastError?.statusCode ?? null, r.lastError?.error ?? null];
}

/**
 * ON CONFLICT … DO UPDATE of a roll-up row: counters add up; the last error is the later one.
 * `t` is the table's name as the SET expressions refer to the old row.
 */
export function rollupUpsertSet(t: string): string {
  const later = `excluded.last_error_at IS NOT NULL AND excluded.last_error_at >= coalesce(${t}.last_error_at, 0)`;
  return [
    ...[...COUNT_COLUMNS, ...LATENCY_COLUMNS].map((c) => `${c} = ${t}.${c} + excluded.${c}`),
    `last_error_status = CASE WHEN ${later} THEN excluded.last_error_status ELSE ${t}.last_error_status END`,
    `last_error = CASE WHEN ${later} THEN excluded.last_error ELSE ${t}.last_error END`,
    `last_error_at = CASE WHEN ${later} THEN excluded.last_error_at ELSE ${t}.last_error_at END`,
  ].join(", ");
}

/** The sums a roll-up query selects, per bucket. */
export const BUCKET_SUMS = COUNT_COLUMNS.map((c) => `sum(${c}) AS ${c}`).join(", ");
export const LATENCY_SUMS = LATENCY_COLUMNS.map((c) => `sum(${c}) AS ${c}`).join(", ");

export function bucketFromRow(r: Record<string, unknown>): RollupBucket {
  return {
    start: Number(r["start"]),
    delivered: Number(r["delivered"]),
    retry: Number(r["retry"]),
    dead: Number(r["dead"]),
    cancelled: Number(r["cancelled"]),
    held: Number(r["held"]),
  };
}

export function latencyFromRow(r: Record<string, unknown> | undefined): number[] {
  return LATENCY_COLUMNS.map((c) => Number(r?.[c] ?? 0));
}

/** WHERE of a roll-up query and its values, with the dialect's placeholders. */
export function rollupWhere(f: { destinationId?: string | undefined; accountId?: string | undefined; from: number; to: number }, d: Pick<Dialect, "param">): { where: string; values: unknown[] } {
  const values: unknown[] = [];
  const p = (v: unknown): string => {
    values.push(v);
    return d.param(values.length);
  };
  const c: string[] = [];
  if (f.destinationId !== undefined) c.push(`destination_id = ${p(f.destinationId)}`);
  if (f.accountId !== undefined) c.push(`account_id = ${p(f.accountId)}`);
  c.push(`minute >= ${p(f.from)}`, `minute < ${p(f.to)}`);
  return { where: `WHERE ${c.join(" AND ")}`, values };
}

/** The roll-up tables: per minute, and per hour (its `minute` column is the hour's start). */
export const MINUTE_TABLE = "delivery_rollups";
export const HOUR_TABLE = "delivery_rollups_hourly";

/** One part of a roll-up read: a table and the range of it to add up. */
export interface RollupPart {
  table: string;
  from: number;
  to: number;
}

/**
 * Where a roll-up read goes: hour buckets from an hour boundary read whole hours from the
 * hourly table (24 rows a day per destination, not 1440) and the last, partial hour from the
 * minutes; anything else reads the minutes.
 */
export function rollupParts(f: RollupFilter): RollupPart[] {
  if (f.bucketMs !== HOUR_MS || f.from % HOUR_MS !== 0) return [{ table: MINUTE_TABLE, from: f.from, to: f.to }];
  const wholeHours = Math.max(f.from, Math.floor(f.to / HOUR_MS) * HOUR_MS);
  const parts: RollupPart[] = [];
  if (wholeHours > f.from) parts.push({ table: HOUR_TABLE, from: f.from, to: wholeHours });
  if (f.to > wholeHours) parts.push({ table: MINUTE_TABLE, from: wholeHours, to: f.to });
  return parts;
}

/** The bucket and latency queries of one part. */
export function rollupPartSql(f: RollupFilter, part: RollupPart, d: Pick<Dialect, "param">): { buckets: { text: string; values: unknown[] }; latency: { text: string; values: unknown[] } } {
  const { where, values } = rollupWhere({ destinationId: f.destinationId, accountId: f.accountId, from: part.from, to: part.to }, d);
  return {
    buckets: { text: `SELECT minute - minute % ${f.bucketMs} AS start, ${BUCKET_SUMS} FROM ${part.table} ${where} GROUP BY start ORDER BY start`, values },
    latency: { text: `SELECT ${LATENCY_SUMS} FROM ${part.table} ${where}`, values },
  };
}

/** The parts' rows as one summary: buckets in order (parts never share a bucket), latency added. */
export function mergeRollups(parts: { buckets: Record<string, unknown>[]; latency: Record<string, unknown> | undefined }[]): RollupSummary {
  const buckets = parts.flatMap((p) => p.buckets.map(bucketFromRow)).sort((a, b) => a.start - b.start);
  const latency = new Array(LATENCY_BUCKETS).fill(0) as number[];
  for (const p of parts) latencyFromRow(p.latency).forEach((n, i) => (latency[i]! += n));
  return { buckets, latency };
}
