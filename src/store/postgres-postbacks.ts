/**
 * The Postgres PostbackStore: endpoints, postbacks and attempts in a Postgres database shared
 * by every Ferry process. Schema: ./postgres-migrations.ts.
 *
 * A batch of attempt records is one SQL statement, so one round trip and atomic.
 */
import type { Endpoint } from "../core/types.js";
import type {
  Attempt,
  AttemptRecord,
  CancelRecord,
  DeliveryLog,
  LogFilter,
  LogPage,
  Page,
  PostbackRecord,
  PostbackStore,
  ResendCandidate,
  RollupFilter,
  RollupSummary,
} from "./port.js";
import { hourRows, outcomeOf, RollupBatch, type RollupDelta } from "../core/delivery-log.js";
import {
  HOUR_TABLE,
  MINUTE_TABLE,
  mergeRollups,
  pageOf,
  rollupPartSql,
  rollupParts,
  ROLLUP_COLUMNS,
  rollupUpsertSet,
  rollupValues,
  searchSql,
  type Dialect,
  type LogRow,
} from "./delivery-log-sql.js";
import { pgArray, type PostgresDb } from "./postgres-db.js";
import { candidateFromRow, postbackFromRow, type CandidateRow, type PostbackRow } from "./rows.js";

// Data-modifying CTEs all run to completion in one statement, which is one transaction.
// Each ON CONFLICT DO UPDATE may touch a row once per statement: recordAttempts sends at most
// one postback row per id and one attempt row per (postback, attempt).
const INSERT_ENDPOINTS = `
  INSERT INTO endpoints (id, method, url, default_value, max_attempts, account_id, destination_id)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[])
  ON CONFLICT (id) DO NOTHING`;

function rollupTableCte(name: string, table: string, n: number): string {
  const types = ROLLUP_COLUMNS.map((c) => (c === "destination_id" || c === "account_id" || c === "last_error" ? "text" : c === "last_error_status" ? "int" : "bigint"));
  return `${name} AS (
  INSERT INTO ${table} (${ROLLUP_COLUMNS.join(", ")})
  SELECT * FROM unnest(${types.map((t, i) => `$${n + i}::${t}[]`).join(", ")})
  ON CONFLICT (destination_id, minute) DO UPDATE SET ${rollupUpsertSet(table)}
)`;
}

/**
 * Adds a batch's roll-up rows, per minute then per hour (arrays from parameter `$n` on, as
 * rollupArrays makes them), in the statement's transaction.
 */
function rollupCte(n: number): string {
  return `${rollupTableCte("new_minutes", MINUTE_TABLE, n)}, ${rollupTableCte("new_hours", HOUR_TABLE, n + ROLLUP_COLUMNS.length)}`;
}

/** The minute rows, then the hour rows they make, as the arrays of rollupCte, column by column. */
function rollupArrays(rows: RollupDelta[]): unknown[] {
  const columns = (list: RollupDelta[]) => {
    const values = list.map(rollupValues);
    return ROLLUP_COLUMNS.map((_, i) => pgArray(values.map((v) => (i === ROLLUP_COLUMNS.length - 1 ? text(v[i] as string | null) : v[i]) as string | number | null)));
  };
  return [...columns(rows), ...columns(hourRows(rows))];
}

const RECORD_SQL = `
WITH new_endpoints AS (${INSERT_ENDPOINTS}
), new_postbacks AS (
  INSERT INTO postbacks (id, endpoint_id, data, state, attempts, created_at, updated_at, next_attempt_at, reason,
    account_id, destination_id, last_at, last_status, last_error, last_duration_ms, last_url)
  SELECT * FROM unnest($8::text[], $9::text[], $10::text[], $11::text[], $12::int[], $13::bigint[], $14::bigint[], $15::bigint[], $16::text[],
    $17::text[], $18::text[], $19::bigint[], $20::int[], $21::text[], $22::float8[], $23::text[])
  ON CONFLICT (id) DO UPDATE SET state = excluded.state, attempts = excluded.attempts, updated_at = excluded.updated_at,
    next_attempt_at = excluded.next_attempt_at, reason = excluded.reason, last_at = excluded.last_at,
    last_status = excluded.last_status, last_error = excluded.last_error, last_duration_ms = excluded.last_duration_ms,
    last_url = excluded.last_url
  WHERE excluded.attempts >= postbacks.attempts -- an earlier attempt recorded late does not undo a later one
), ${rollupCte(33)}
INSERT INTO attempts (postback_id, attempt, started_at, duration_ms, url, status_code, error, error_message, response_body)
SELECT * FROM unnest($24::text[], $25::int[], $26::bigint[], $27::float8[], $28::text[], $29::int[], $30::text[], $31::text[], $32::text[])
ON CONFLICT (postback_id, attempt) DO UPDATE SET started_at = excluded.started_at, duration_ms = excluded.duration_ms,
  url = excluded.url, status_code = excluded.status_code, error = excluded.error, error_message = excluded.error_message,
  response_body = excluded.response_body`;

// A settled postback stays settled: a delivery is never undone by a cancellation.
const CANCEL_SQL = `
WITH new_endpoints AS (${INSERT_ENDPOINTS}
), ${rollupCte(16)}
INSERT INTO postbacks (id, endpoint_id, data, state, attempts, created_at, updated_at, next_attempt_at, reason, account_id, destination_id)
SELECT c.id, c.endpoint_id, c.data, 'cancelled', 0, c.created_at, c.at, NULL, c.reason, c.account_id, c.destination_id
FROM unnest($8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::text[], $14::text[], $15::text[])
  AS c(id, endpoint_id, data, created_at, at, reason, account_id, destination_id)
ON CONFLICT (id) DO UPDATE SET state = 'cancelled', updated_at = excluded.updated_at, next_attempt_at = NULL, reason = excluded.reason
WHERE postbacks.state <> 'delivered'`;

const ENDPOINT_COLUMNS = "e.id AS endpoint_id, e.method, e.url, e.default_value, e.max_attempts, e.account_id, e.destination_id";

// One statement, so the postback and its attempts come from one snapshot.
const GET_SQL = `
SELECT p.id, p.data, p.state, p.created_at, p.updated_at, p.next_attempt_at, p.reason, ${ENDPOINT_COLUMNS},
       (SELECT coalesce(json_agg(json_build_object(
                 'attempt', a.attempt, 'startedAt', a.started_at, 'durationMs', a.duration_ms, 'url', a.url,
                 'statusCode', a.status_code, 'error', a.error, 'errorMessage', a.error_message,
                 'responseBody', a.response_body) ORDER BY a.attempt), '[]'::json)
        FROM attempts a WHERE a.postback_id = p.id) AS attempts
FROM postbacks p JOIN endpoints e ON e.id = p.endpoint_id
WHERE p.id = $1`;

// The state condition is the one of the partial index postbacks_failed. Postback ids compare
// bytewise, as ULIDs sort and as SQLite compares them, whatever the database's collation.
const FAILED_SQL = `
SELECT p.id, p.data, p.state, p.created_at, p.attempts, ${ENDPOINT_COLUMNS}
FROM endpoints e JOIN postbacks p ON p.endpoint_id = e.id
WHERE e.destination_id = $1 AND p.state IN ('failed', 'dead') AND p.created_at >= $2 AND p.created_at < $3
  AND p.id COLLATE "C" > $4
ORDER BY p.id COLLATE "C" LIMIT $5`;

const COUNT_FAILED_SQL = `
SELECT count(*)::int AS n
FROM endpoints e JOIN postbacks p ON p.endpoint_id = e.id
WHERE e.destination_id = $1 AND p.state IN ('failed', 'dead') AND p.created_at >= $2 AND p.created_at < $3`;

interface PostbackRowWithAttempts extends PostbackRow {
  attempts: Attempt[];
}

/**
 * Postgres text cannot hold U+0000, and one such character would fail the whole batch again on
 * every retry. It can come only from a partner (a binary response body): keep the rest of it.
 */
function text<T extends string | null>(s: T): T {
  return (s !== null && s.includes("\u0000") ? s.replaceAll("\u0000", "\uFFFD") : s) as T;
}

function compare(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The endpoints' columns as the arrays $1..$7 of INSERT_ENDPOINTS, in id order. */
function endpointArrays(endpoints: Iterable<Endpoint>): unknown[] {
  const e = [...endpoints].sort((x, y) => compare(x.id, y.id));
  return [
    pgArray(e.map((x) => x.id)),
    pgArray(e.map((x) => x.method)),
    pgArray(e.map((x) => text(x.url))),
    pgArray(e.map((x) => text(x.defaultValue))),
    pgArray(e.map((x) => x.maxAttempts)),
    pgArray(e.map((x) => x.accountId ?? null)),
    pgArray(e.map((x) => x.destinationId ?? null)),
  ];
}

const DIALECT: Dialect = { param: (n) => `$${n}`, id: 'id COLLATE "C"', contains: (column, needle) => `strpos(${column}, ${needle}) > 0` };

const HELD_SQL = `WITH ${rollupCte(1)} SELECT 1`;

// Through postbacks_state (state, updated_at): only final states, so nothing owed goes. SKIP
// LOCKED: two API processes deleting at once take different rows.
const EXPIRE_SQL = `
WITH doomed AS (
  SELECT id FROM postbacks WHERE state IN ('delivered', 'dead', 'cancelled') AND updated_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED
), gone_attempts AS (
  DELETE FROM attempts WHERE postback_id IN (SELECT id FROM doomed)
)
DELETE FROM postbacks WHERE id IN (SELECT id FROM doomed)`;

const LAST_ERROR_SQL = `
SELECT last_error_at AS at, last_error_status AS status_code, last_error AS error FROM delivery_rollups
WHERE destination_id = $1 AND last_error_at IS NOT NULL ORDER BY last_error_at DESC LIMIT 1`;

export class PostgresPostbackStore implements PostbackStore, DeliveryLog {
  constructor(private readonly db: PostgresDb) {}

  async recordAttempts(records: AttemptRecord[]): Promise<void> {
    if (records.length === 0) return;
    const endpoints = new Map<string, Endpoint>();
    // Per postback the record with the highest attempt, the later one on a tie: the state the
    // batch applied in order would leave. Per (postback, attempt) the last one.
    const postbacks = new Map<string, AttemptRecord>();
    const attempts = new Map<string, AttemptRecord>();
    const rollups = new RollupBatch();
    for (const r of records) {
      const outcome = outcomeOf(r.state);
      rollups.add({ destinationId: r.endpoint.destinationId, accountId: r.endpoint.accountId, at: r.startedAt }, outcome, r.durationMs,
        outcome === "retry" || outcome === "dead" ? { statusCode: r.statusCode, error: r.error } : null);
      endpoints.set(r.endpoint.id, r.endpoint);
      const kept = postbacks.get(r.postbackId);
      if (!kept || r.attempt >= kept.attempt) postbacks.set(r.postbackId, r);
      attempts.set(`${r.postbackId}\n${r.attempt}`, r);
    }
    // Rows in key order, so that two workers writing the same new endpoint (or, after a lease
    // ran out, the same postback) lock the rows in the same order and cannot deadlock.
    const p = [...postbacks.values()].sort((x, y) => compare(x.postbackId, y.postbackId));
    const a = [...attempts.values()].sort((x, y) => compare(x.postbackId, y.postbackId) || x.attempt - y.attempt);
    await this.db.query({
      name: "ferry_record_attempts",
      text: RECORD_SQL,
      values: [
        ...endpointArrays(endpoints.values()),
        pgArray(p.map((r) => r.postbackId)),
        pgArray(p.map((r) => r.endpoint.id)),
        pgArray(p.map((r) => text(r.data))),
        pgArray(p.map((r) => r.state)),
        pgArray(p.map((r) => r.attempt)),
        pgArray(p.map((r) => r.createdAt)),
        pgArray(p.map((r) => r.startedAt + Math.round(r.durationMs))),
        pgArray(p.map((r) => r.nextAttemptAt)),
        pgArray(p.map((r) => text(r.reason))),
        pgArray(p.map((r) => r.endpoint.accountId ?? null)),
        pgArray(p.map((r) => r.endpoint.destinationId ?? null)),
        pgArray(p.map((r) => r.startedAt)),
        pgArray(p.map((r) => r.statusCode)),
        pgArray(p.map((r) => r.error)),
        pgArray(p.map((r) => r.durationMs)),
        pgArray(p.map((r) => text(r.url))),
        pgArray(a.map((r) => r.postbackId)),
        pgArray(a.map((r) => r.attempt)),
        pgArray(a.map((r) => r.startedAt)),
        pgArray(a.map((r) => r.durationMs)),
        pgArray(a.map((r) => text(r.url))),
        pgArray(a.map((r) => r.statusCode)),
        pgArray(a.map((r) => r.error)),
        pgArray(a.map((r) => text(r.errorMessage))),
        pgArray(a.map((r) => text(r.responseBody))),
        ...rollupArrays(rollups.list()),
      ],
    });
  }

  async recordCancelled(records: CancelRecord[]): Promise<void> {
    if (records.length === 0) return;
    const endpoints = new Map<string, Endpoint>();
    const postbacks = new Map<string, CancelRecord>();
    const rollups = new RollupBatch();
    for (const r of records) {
      endpoints.set(r.endpoint.id, r.endpoint);
      rollups.add({ destinationId: r.endpoint.destinationId, accountId: r.endpoint.accountId, at: r.at }, "cancelled", null, null);
      postbacks.set(r.postbackId, r); // ON CONFLICT touches a row once per statement: the last one
    }
    const c = [...postbacks.values()].sort((x, y) => compare(x.postbackId, y.postbackId));
    await this.db.query({
      name: "ferry_record_cancelled",
      text: CANCEL_SQL,
      values: [
        ...endpointArrays(endpoints.values()),
        pgArray(c.map((r) => r.postbackId)),
        pgArray(c.map((r) => r.endpoint.id)),
        pgArray(c.map((r) => text(r.data))),
        pgArray(c.map((r) => r.createdAt)),
        pgArray(c.map((r) => r.at)),
        pgArray(c.map((r) => text(r.reason))),
        pgArray(c.map((r) => r.endpoint.accountId ?? null)),
        pgArray(c.map((r) => r.endpoint.destinationId ?? null)),
        ...rollupArrays(rollups.list()),
      ],
    });
  }

  async getPostback(id: string): Promise<PostbackRecord | undefined> {
    const { rows } = await this.db.query<PostbackRowWithAttempts>({ name: "ferry_get_postback", text: GET_SQL, values: [id] });
    const row = rows[0];
    return row ? postbackFromRow(row, row.attempts) : undefined;
  }

  async listFailedPostbacks(destinationId: string, range: { from: number; to: number }, page: Page): Promise<ResendCandidate[]> {
    const { rows } = await this.db.query<CandidateRow>({
      name: "ferry_list_failed",
      text: FAILED_SQL,
      values: [destinationId, range.from, range.to, page.after ?? "", page.limit],
    });
    return rows.map(candidateFromRow);
  }

  async countFailedPostbacks(destinationId: string, range: { from: number; to: number }): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>({
      name: "ferry_count_failed",
      text: COUNT_FAILED_SQL,
      values: [destinationId, range.from, range.to],
    });
    return rows[0]!.n;
  }

  async searchPostbacks(filter: LogFilter): Promise<LogPage> {
    const q = searchSql(filter, DIALECT);
    const { rows } = await this.db.query<LogRow>(q.page);
    let last: string | undefined;
    if (q.lastScanned && rows.length <= filter.limit) last = (await this.db.query<{ id: string }>(q.lastScanned)).rows[0]?.id;
    return pageOf(rows, filter.limit, last);
  }

  async rollups(filter: RollupFilter): Promise<RollupSummary> {
    // Each part's figures are read in one statement; a batch committing between two parts may
    // be counted in one and not yet in the other, which the next read corrects.
    const parts = await Promise.all(
      rollupParts(filter).map(async (part) => {
        const q = rollupPartSql(filter, part, DIALECT);
        const [buckets, latency] = await Promise.all([
          this.db.query<Record<string, unknown>>(q.buckets),
          this.db.query<Record<string, unknown>>(q.latency),
        ]);
        return { buckets: buckets.rows, latency: latency.rows[0] };
      }),
    );
    return mergeRollups(parts);
  }

  async lastError(destinationId: string): Promise<{ at: number; statusCode: number | null; error: string | null } | undefined> {
    const { rows } = await this.db.query<{ at: string; status_code: number | null; error: string | null }>({ name: "ferry_last_error", text: LAST_ERROR_SQL, values: [destinationId] });
    const row = rows[0];
    return row ? { at: Number(row.at), statusCode: row.status_code, error: row.error } : undefined;
  }

  async recordHeld(held: { destinationId: string; accountId: string | undefined; at: number }[]): Promise<void> {
    if (held.length === 0) return;
    const rollups = new RollupBatch();
    for (const h of held) rollups.add(h, "held", null, null);
    await this.db.query({ name: "ferry_record_held", text: HELD_SQL, values: rollupArrays(rollups.list()) });
  }

  async deleteFinishedBefore(before: number, limit: number): Promise<number> {
    const result = await this.db.query({ name: "ferry_expire_postbacks", text: EXPIRE_SQL, values: [before, limit] });
    return result.rowCount ?? 0;
  }
}
