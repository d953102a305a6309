/**
 * The SQLite store: endpoints, postbacks and attempts in the embedded database file.
 * Limits: one writer at a time across processes.
 */
import type { SqliteDatabase } from "../sqlite.js";
import { migrate } from "../sqlite.js";
import type { AttemptErrorCode } from "../core/errors.js";
import type { Attempt, AttemptRecord, PostbackRecord, Store } from "./port.js";
import { postbackFromRow, type PostbackRow } from "./rows.js";

const MIGRATIONS = [
  `CREATE TABLE endpoints (
     id TEXT PRIMARY KEY,
     method TEXT NOT NULL,
     url TEXT NOT NULL,
     default_value TEXT NOT NULL,
     max_attempts INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE postbacks (
     id TEXT PRIMARY KEY,
     endpoint_id TEXT NOT NULL,
     data TEXT NOT NULL,
     state TEXT NOT NULL,
     attempts INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     next_attempt_at INTEGER,
     reason TEXT
   ) WITHOUT ROWID;
   CREATE INDEX postbacks_state ON postbacks (state, updated_at);
   CREATE TABLE attempts (
     postback_id TEXT NOT NULL,
     attempt INTEGER NOT NULL,
     started_at INTEGER NOT NULL,
     duration_ms REAL NOT NULL,
     url TEXT NOT NULL,
     status_code INTEGER,
     error TEXT,
     error_message TEXT,
     response_body TEXT,
     PRIMARY KEY (postback_id, attempt)
   ) WITHOUT ROWID;`,
];


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

export class SqliteStore implements Store {
  private readonly db: SqliteDatabase;
  private readonly stmt;
  /** Endpoints known to be stored, so a batch does not write one per postback. */
  private readonly knownEndpoints = new Set<string>();

  constructor(db: SqliteDatabase) {
    this.db = db;
    migrate(db, "store", MIGRATIONS);
    this.stmt = {
      endpoint: db.prepare(
        "INSERT OR IGNORE INTO endpoints (id, method, url, default_value, max_attempts) VALUES (?, ?, ?, ?, ?)",
      ),
      postback: db.prepare(
        `INSERT INTO postbacks (id, endpoint_id, data, state, attempts, created_at, updated_at, next_attempt_at, reason)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, attempts = max(attempts, excluded.attempts),
           updated_at = excluded.updated_at, next_attempt_at = excluded.next_attempt_at, reason = excluded.reason
         WHERE excluded.attempts >= postbacks.attempts -- an earlier attempt recorded late does not undo a later one`,
      ),
      attempt: db.prepare(
        `INSERT OR REPLACE INTO attempts (postback_id, attempt, started_at, duration_ms, url, status_code, error, error_message, response_body)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      get: db.prepare(
        `SELECT p.id, p.data, p.state, p.attempts, p.created_at, p.updated_at, p.next_attempt_at, p.reason,
                e.id AS endpoint_id, e.method, e.url, e.default_value, e.max_attempts
         FROM postbacks p JOIN endpoints e ON e.id = p.endpoint_id WHERE p.id = ?`,
      ),
      attempts: db.prepare(
        `SELECT attempt, started_at, duration_ms, url, status_code, error, error_message, response_body
         FROM attempts WHERE postback_id = ? ORDER BY attempt`,
      ),
    };
  }

  /** Returns the endpoints it wrote; they are known only once the transaction commits. */
  private readonly recordTx = (records: AttemptRecord[]): Set<string> => {
    const written = new Set<string>();
    for (const r of records) {
      const e = r.endpoint;
      if (!this.knownEndpoints.has(e.id) && !written.has(e.id)) {
        this.stmt.endpoint.run(e.id, e.method, e.url, e.defaultValue, e.maxAttempts);
        written.add(e.id);
      }
      const updatedAt = r.startedAt + Math.round(r.durationMs);
      this.stmt.postback.run(r.postbackId, e.id, r.data, r.state, r.attempt, r.createdAt, updatedAt, r.nextAttemptAt, r.reason);
      this.stmt.attempt.run(r.postbackId, r.attempt, r.startedAt, r.durationMs, r.url, r.statusCode, r.error, r.errorMessage, r.responseBody);
    }
    return written;
  };

  async recordAttempts(records: AttemptRecord[]): Promise<void> {
    if (records.length === 0) return;
    const written = this.db.transaction(this.recordTx).immediate(records);
    for (const id of written) {
      if (this.knownEndpoints.size >= 10_000) this.knownEndpoints.clear();
      this.knownEndpoints.add(id);
    }
  }

  async getPostback(id: string): Promise<PostbackRecord | undefined> {
    const row = this.stmt.get.get(id) as PostbackRow | undefined;
    if (!row) return undefined;
    const attempts = (this.stmt.attempts.all(id) as AttemptRow[]).map(
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

  async ping(): Promise<void> {
    if (!this.db.open) throw new Error("the SQLite database is closed");
    this.db.prepare("SELECT 1").get();
  }

  async close(): Promise<void> {
    // The connection is shared with the queue; the backend that opened it closes it.
  }
}
