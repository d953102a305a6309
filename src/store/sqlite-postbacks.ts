/**
 * The SQLite PostbackStore: endpoints, postbacks and attempts in the embedded database file.
 * Tables: migrations 1, 2 and 4 in ./sqlite.ts. A batch of records is one IMMEDIATE transaction,
 * with its roll-up counters (the delivery log, ./delivery-log-sql.ts).
 */
import type { Statement } from "better-sqlite3";
import type { SqliteDatabase } from "../sqlite.js";
import type { AttemptErrorCode } from "../core/errors.js";
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
import { candidateFromRow, postbackFromRow, type CandidateRow, type PostbackRow } from "./rows.js";
import { onSqlite } from "./sqlite-errors.js";

const ENDPOINT_COLUMNS = "e.id AS endpoint_id, e.method, e.url, e.default_value, e.max_attempts, e.account_id, e.destination_id";

interface AttemptRow {
  attempt: number;
  started_at: number;
  duration_ms: number;
  url: string;
  status_code: number | null;
  error: string | null;
  error_message: string | null;
  response_body: string | null;
}

const DIALECT: Dialect = { param: () => "?", id: "id", contains: (column, needle) => `instr(${column}, ${needle}) > 0` };

export class SqlitePostbackStore implements PostbackStore, DeliveryLog {
  private readonly stmt;
  /** Search statements by their SQL: a handful of filter combinations, each prepared once. */
  private readonly searches = new Map<string, Statement<unknown[]>>();
  /** Endpoints known to be stored, so a batch does not write one per postback. */
  private readonly knownEndpoints = new Set<string>();

  /** `db` must be migrated (openSqliteStores does it). */
  constructor(private readonly db: SqliteDatabase) {
    this.stmt = {
      endpoint: db.prepare(
        "INSERT OR IGNORE INTO endpoints (id, method, url, default_value, max_attempts, account_id, destination_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      postback: db.prepare(
        `INSERT INTO postbacks (id, endpoint_id, data, state, attempts, created_at, updated_at, next_attempt_at, reason,
           account_id, destination_id, last_at, last_status, last_error, last_duration_ms, last_url)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, attempts = max(attempts, excluded.attempts),
           updated_at = excluded.updated_at, next_attempt_at = excluded.next_attempt_at, reason = excluded.reason,
           last_at = excluded.last_at, last_status = excluded.last_status, last_error = excluded.last_error,
           last_duration_ms = excluded.last_duration_ms, last_url = excluded.last_url
         WHERE excluded.attempts >= postbacks.attempts -- an earlier attempt recorded late does not undo a later one`,
      ),
      // A settled postback stays settled: a delivery is never undone by a cancellation.
      cancel: db.prepare(
        `INSERT INTO postbacks (id, endpoint_id, data, state, attempts, created_at, updated_at, next_attempt_at, reason, account_id, destination_id)
         VALUES (?, ?, ?, 'cancelled', 0, ?, ?, NULL, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET state = 'cancelled', updated_at = excluded.updated_at, next_attempt_at = NULL,
           reason = excluded.reason
         WHERE postbacks.state <> 'delivered'`,
      ),
      attempt: db.prepare(
        `INSERT OR REPLACE INTO attempts (postback_id, attempt, started_at, duration_ms, url, status_code, error, error_message, response_body)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      get: db.prepare(
        `SELECT p.id, p.data, p.state, p.attempts, p.created_at, p.updated_at, p.next_attempt_at, p.reason, ${ENDPOINT_COLUMNS}
         FROM postbacks p JOIN endpoints e ON e.id = p.endpoint_id WHERE p.id = ?`,
      ),
      attempts: db.prepare(
        `SELECT attempt, started_at, duration_ms, url, status_code, error, error_message, response_body
         FROM attempts WHERE postback_id = ? ORDER BY attempt`,
      ),
      // The state condition is the one of the partial index postbacks_failed, word for word.
      failed: db.prepare(
        `SELECT p.id, p.data, p.state, p.created_at, p.attempts, ${ENDPOINT_COLUMNS}
         FROM endpoints e JOIN postbacks p ON p.endpoint_id = e.id
         WHERE e.destination_id = ? AND p.state IN ('failed', 'dead') AND p.created_at >= ? AND p.created_at < ? AND p.id > ?
         ORDER BY p.id LIMIT ?`,
      ),
      countFailed: db.prepare(
        `SELECT count(*) AS n FROM endpoints e JOIN postbacks p ON p.endpoint_id = e.id
         WHERE e.destination_id = ? AND p.state IN ('failed', 'dead') AND p.created_at >= ? AND p.created_at < ?`,
      ),
      rollup: db.prepare(
        `INSERT INTO delivery_rollups (${ROLLUP_COLUMNS.join(", ")}) VALUES (${ROLLUP_COLUMNS.map(() => "?").join(", ")})
         ON CONFLICT (destination_id, minute) DO UPDATE SET ${rollupUpsertSet("delivery_rollups")}`,
      ),
      rollupHour: db.prepare(
        `INSERT INTO ${HOUR_TABLE} (${ROLLUP_COLUMNS.join(", ")}) VALUES (${ROLLUP_COLUMNS.map(() => "?").join(", ")})
         ON CONFLICT (destination_id, minute) DO UPDATE SET ${rollupUpsertSet(HOUR_TABLE)}`,
      ),
      lastError: db.prepare(
        `SELECT last_error_at AS at, last_error_status AS status_code, last_error AS error FROM delivery_rollups
         WHERE destination_id = ? AND last_error_at IS NOT NULL ORDER BY last_error_at DESC LIMIT 1`,
      ),
      // Through postbacks_state (state, updated_at): only final states, so nothing owed goes.
      expired: db.prepare(`SELECT id FROM postbacks WHERE state IN ('delivered', 'dead', 'cancelled') AND updated_at < ? LIMIT ?`).pluck(),
      deleteAttempts: db.prepare("DELETE FROM attempts WHERE postback_id = ?"),
      deletePostback: db.prepare("DELETE FROM postbacks WHERE id = ?"),
    };
  }

  /** Returns the endpoints it wrote; they are known only once the transaction commits. */
  private readonly recordTx = (records: AttemptRecord[]): Set<string> => {
    const written = new Set<string>();
    const rollups = new RollupBatch();
    for (const r of records) {
      this.writeEndpoint(r.endpoint, written);
      const updatedAt = r.startedAt + Math.round(r.durationMs);
      const { accountId, destinationId } = r.endpoint;
      this.stmt.postback.run(r.postbackId, r.endpoint.id, r.data, r.state, r.attempt, r.createdAt, updatedAt, r.nextAttemptAt, r.reason,
        accountId ?? null, destinationId ?? null, r.startedAt, r.statusCode, r.error, r.durationMs, r.url);
      this.stmt.attempt.run(r.postbackId, r.attempt, r.startedAt, r.durationMs, r.url, r.statusCode, r.error, r.errorMessage, r.responseBody);
      const outcome = outcomeOf(r.state);
      rollups.add({ destinationId, accountId, at: r.startedAt }, outcome, r.durationMs,
        outcome === "retry" || outcome === "dead" ? { statusCode: r.statusCode, error: r.error } : null);
    }
    this.writeRollups(rollups.list());
    return written;
  };

  private writeEndpoint(e: Endpoint, written: Set<string>): void {
    if (this.knownEndpoints.has(e.id) || written.has(e.id)) return;
    this.stmt.endpoint.run(e.id, e.method, e.url, e.defaultValue, e.maxAttempts, e.accountId ?? null, e.destinationId ?? null);
    written.add(e.id);
  }

  private remember(written: Set<string>): void {
    for (const id of written) {
      if (this.knownEndpoints.size >= 10_000) this.knownEndpoints.clear();
      this.knownEndpoints.add(id);
    }
  }

  async recordAttempts(records: AttemptRecord[]): Promise<void> {
    if (records.length === 0) return;
    this.remember(onSqlite(this.db, () => this.db.transaction(this.recordTx).immediate(records)));
  }

  private readonly cancelTx = (records: CancelRecord[]): Set<string> => {
    const written = new Set<string>();
    const rollups = new RollupBatch();
    for (const r of records) {
      this.writeEndpoint(r.endpoint, written);
      const { accountId, destinationId } = r.endpoint;
      this.stmt.cancel.run(r.postbackId, r.endpoint.id, r.data, r.createdAt, r.at, r.reason, accountId ?? null, destinationId ?? null);
      rollups.add({ destinationId, accountId, at: r.at }, "cancelled", null, null);
    }
    this.writeRollups(rollups.list());
    return written;
  };

  async recordCancelled(records: CancelRecord[]): Promise<void> {
    if (records.length === 0) return;
    this.remember(onSqlite(this.db, () => this.db.transaction(this.cancelTx).immediate(records)));
  }

  /**
   * Finished work's attempts, cancels and holds, in the caller's transaction (the embedded
   * FinishAndTake, ./sqlite-finished-work.ts). Returns the endpoints written: pass them to
   * `committed` once that transaction commits (a rolled-back endpoint row is not known).
   */
  writeWithin(records: AttemptRecord[], cancels: CancelRecord[], held: { destinationId: string; accountId: string | undefined; at: number }[]): Set<string> {
    const written = records.length > 0 ? this.recordTx(records) : new Set<string>();
    if (cancels.length > 0) for (const id of this.cancelTx(cancels)) written.add(id);
    if (held.length > 0) this.heldTx(held);
    return written;
  }

  /** The caller's transaction that wrote these endpoints (writeWithin) committed. */
  committed(written: Set<string>): void {
    this.remember(written);
  }

  async listFailedPostbacks(destinationId: string, range: { from: number; to: number }, page: Page): Promise<ResendCandidate[]> {
    const rows = onSqlite(this.db, () => this.stmt.failed.all(destinationId, range.from, range.to, page.after ?? "", page.limit)) as CandidateRow[];
    return rows.map(candidateFromRow);
  }

  async countFailedPostbacks(destinationId: string, range: { from: number; to: number }): Promise<number> {
    const row = onSqlite(this.db, () => this.stmt.countFailed.get(destinationId, range.from, range.to)) as { n: number };
    return Number(row.n);
  }

  async getPostback(id: string): Promise<PostbackRecord | undefined> {
    const row = onSqlite(this.db, () => this.stmt.get.get(id)) as PostbackRow | undefined;
    if (!row) return undefined;
    const attempts = (onSqlite(this.db, () => this.stmt.attempts.all(id)) as AttemptRow[]).map(
      (a): Attempt => ({
        attempt: a.attempt,
        startedAt: a.started_at,
        durationMs: a.duration_ms,
        url: a.url,
        statusCode: a.status_code,
        error: a.error as AttemptErrorCode | null,
        errorMessage: a.error_message,
        responseBody: a.response_body,
      }),
    );
    return postbackFromRow(row, attempts);
  }

  /** Adds the batch's minute rows, and the hours they make, in the caller's transaction. */
  private writeRollups(rows: RollupDelta[]): void {
    for (const row of rows) this.stmt.rollup.run(...rollupValues(row));
    for (const row of hourRows(rows)) this.stmt.rollupHour.run(...rollupValues(row));
  }

  private search(sql: string): Statement<unknown[]> {
    let stmt = this.searches.get(sql);
    if (!stmt) {
      stmt = this.db.prepare<unknown[]>(sql);
      this.searches.set(sql, stmt);
    }
    return stmt;
  }

  async searchPostbacks(filter: LogFilter): Promise<LogPage> {
    const q = searchSql(filter, DIALECT);
    return onSqlite(this.db, () => {
      const rows = this.search(q.page.text).all(...q.page.values) as LogRow[];
      const last = q.lastScanned && rows.length <= filter.limit
        ? (this.search(q.lastScanned.text).get(...q.lastScanned.values) as { id: string } | undefined)?.id
        : undefined;
      return pageOf(rows, filter.limit, last);
    });
  }

  async rollups(filter: RollupFilter): Promise<RollupSummary> {
    return onSqlite(this.db, () =>
      // One read transaction, so the hours and the minutes come from one snapshot.
      this.db.transaction(() =>
        mergeRollups(
          rollupParts(filter).map((part) => {
            const q = rollupPartSql(filter, part, DIALECT);
            return {
              buckets: this.search(q.buckets.text).all(...q.buckets.values) as Record<string, unknown>[],
              latency: this.search(q.latency.text).get(...q.latency.values) as Record<string, unknown> | undefined,
            };
          }),
        ),
      )(),
    );
  }

  async lastError(destinationId: string): Promise<{ at: number; statusCode: number | null; error: string | null } | undefined> {
    const row = onSqlite(this.db, () => this.stmt.lastError.get(destinationId)) as { at: number; status_code: number | null; error: string | null } | undefined;
    return row ? { at: row.at, statusCode: row.status_code, error: row.error } : undefined;
  }

  private readonly heldTx = (held: { destinationId: string; accountId: string | undefined; at: number }[]): void => {
    const rollups = new RollupBatch();
    for (const h of held) rollups.add(h, "held", null, null);
    this.writeRollups(rollups.list());
  };

  async recordHeld(held: { destinationId: string; accountId: string | undefined; at: number }[]): Promise<void> {
    if (held.length === 0) return;
    onSqlite(this.db, () => this.db.transaction(this.heldTx).immediate(held));
  }

  private readonly expireTx = (before: number, limit: number): number => {
    const ids = this.stmt.expired.all(before, limit) as string[];
    for (const id of ids) {
      this.stmt.deleteAttempts.run(id);
      this.stmt.deletePostback.run(id);
    }
    return ids.length;
  };

  async deleteFinishedBefore(before: number, limit: number): Promise<number> {
    return onSqlite(this.db, () => this.db.transaction(this.expireTx).immediate(before, limit));
  }
}
