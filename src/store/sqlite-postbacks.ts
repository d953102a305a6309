/**
 * The SQLite PostbackStore: endpoints, postbacks and attempts in the embedded database file.
 * Tables: migrations 1 and 2 in ./sqlite.ts. A batch of records is one IMMEDIATE transaction.
 */
import type { SqliteDatabase } from "../sqlite.js";
import type { AttemptErrorCode } from "../core/errors.js";
import type { Endpoint } from "../core/types.js";
import type { Attempt, AttemptRecord, CancelRecord, Page, PostbackRecord, PostbackStore, ResendCandidate } from "./port.js";
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

export class SqlitePostbackStore implements PostbackStore {
  private readonly stmt;
  /** Endpoints known to be stored, so a batch does not write one per postback. */
  private readonly knownEndpoints = new Set<string>();

  /** `db` must be migrated (openSqliteStores does it). */
  constructor(private readonly db: SqliteDatabase) {
    this.stmt = {
      endpoint: db.prepare(
        "INSERT OR IGNORE INTO endpoints (id, method, url, default_value, max_attempts, account_id, destination_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      postback: db.prepare(
        `INSERT INTO postbacks (id, endpoint_id, data, state, attempts, created_at, updated_at, next_attempt_at, reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, attempts = max(attempts, excluded.attempts),
           updated_at = excluded.updated_at, next_attempt_at = excluded.next_attempt_at, reason = excluded.reason
         WHERE excluded.attempts >= postbacks.attempts -- an earlier attempt recorded late does not undo a later one`,
      ),
      // A settled postback stays settled: a delivery is never undone by a cancellation.
      cancel: db.prepare(
        `INSERT INTO postbacks (id, endpoint_id, data, state, attempts, created_at, updated_at, next_attempt_at, reason)
         VALUES (?, ?, ?, 'cancelled', 0, ?, ?, NULL, ?)
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
    };
  }

  /** Returns the endpoints it wrote; they are known only once the transaction commits. */
  private readonly recordTx = (records: AttemptRecord[]): Set<string> => {
    const written = new Set<string>();
    for (const r of records) {
      this.writeEndpoint(r.endpoint, written);
      const updatedAt = r.startedAt + Math.round(r.durationMs);
      this.stmt.postback.run(r.postbackId, r.endpoint.id, r.data, r.state, r.attempt, r.createdAt, updatedAt, r.nextAttemptAt, r.reason);
      this.stmt.attempt.run(r.postbackId, r.attempt, r.startedAt, r.durationMs, r.url, r.statusCode, r.error, r.errorMessage, r.responseBody);
    }
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
    for (const r of records) {
      this.writeEndpoint(r.endpoint, written);
      this.stmt.cancel.run(r.postbackId, r.endpoint.id, r.data, r.createdAt, r.at, r.reason);
    }
    return written;
  };

  async recordCancelled(records: CancelRecord[]): Promise<void> {
    if (records.length === 0) return;
    this.remember(onSqlite(this.db, () => this.db.transaction(this.cancelTx).immediate(records)));
  }

  async listFailedPostbacks(destinationId: string, range: { from: number; to: number }, page: Page): Promise<ResendCandidate[]> {
    const rows = onSqlite(this.db, () => this.stmt.failed.all(destinationId, range.from, range.to, page.after ?? "", page.limit)) as CandidateRow[];
    return rows.map(candidateFromRow);
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
}
