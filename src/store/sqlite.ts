/**
 * The SQLite store: endpoints, postbacks and attempts in the embedded database file; accounts,
 * tokens, destinations and endpoint health in ./sqlite-accounts.ts; idempotency keys and content
 * hashes in ./sqlite-dedupe.ts. Limits: one writer at a time across processes.
 */
import type { SqliteDatabase } from "../sqlite.js";
import { migrate } from "../sqlite.js";
import type { AttemptErrorCode } from "../core/errors.js";
import type { Account, Destination, Endpoint, Token } from "../core/types.js";
import type {
  AccountPatch,
  Attempt,
  AttemptRecord,
  CancelRecord,
  DestinationFailure,
  DestinationPatch,
  IdempotencyClaim,
  Page,
  PostbackRecord,
  ResendCandidate,
  Store,
} from "./port.js";
import { candidateFromRow, postbackFromRow, type CandidateRow, type PostbackRow } from "./rows.js";
import { SqliteAccounts } from "./sqlite-accounts.js";
import { SqliteDedupe } from "./sqlite-dedupe.js";

/** `MIGRATIONS[i]` is version i+1 of component "store"; append, never edit one that shipped. */
export const MIGRATIONS: readonly string[] = [
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
  // Accounts, tokens and destinations (issue 4). An endpoint names its owner and destination;
  // a replay lists a destination's failed and dead postbacks through postbacks_failed.
  // JSON as text; booleans as 0/1; a destination's counted failures as a JSON array of times.
  `ALTER TABLE endpoints ADD COLUMN account_id TEXT;
   ALTER TABLE endpoints ADD COLUMN destination_id TEXT;
   CREATE INDEX endpoints_destination ON endpoints (destination_id) WHERE destination_id IS NOT NULL;
   CREATE INDEX postbacks_failed ON postbacks (endpoint_id, created_at) WHERE state IN ('failed', 'dead');
   CREATE TABLE accounts (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     email TEXT,
     website TEXT,
     metadata TEXT NOT NULL,
     dedupe_window_ms INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE TABLE tokens (
     id TEXT PRIMARY KEY,
     account_id TEXT NOT NULL,
     name TEXT,
     hash BLOB NOT NULL UNIQUE,
     created_at INTEGER NOT NULL,
     revoked_at INTEGER
   ) WITHOUT ROWID;
   CREATE INDEX tokens_account ON tokens (account_id, id);
   CREATE TABLE destinations (
     id TEXT PRIMARY KEY,
     account_id TEXT NOT NULL,
     url TEXT NOT NULL,
     method TEXT NOT NULL,
     headers TEXT NOT NULL,
     event_types TEXT NOT NULL,
     enabled INTEGER NOT NULL,
     disabled_reason TEXT,
     disabled_at INTEGER,
     timeout_ms INTEGER,
     max_attempts INTEGER,
     default_value TEXT,
     rate_limit REAL,
     concurrency INTEGER,
     failure_threshold INTEGER,
     failure_window_ms INTEGER,
     secret TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     failures TEXT NOT NULL DEFAULT '[]'
   ) WITHOUT ROWID;
   CREATE INDEX destinations_account ON destinations (account_id, id);
   CREATE TABLE idempotency_keys (
     scope TEXT NOT NULL,
     key TEXT NOT NULL,
     fingerprint TEXT NOT NULL,
     claimed_at INTEGER NOT NULL,
     answered_at INTEGER,
     status INTEGER,
     body TEXT,
     PRIMARY KEY (scope, key)
   ) WITHOUT ROWID;
   CREATE INDEX idempotency_keys_age ON idempotency_keys (coalesce(answered_at, claimed_at));
   CREATE TABLE content_hashes (
     account_id TEXT NOT NULL,
     hash TEXT NOT NULL,
     seen_at INTEGER NOT NULL,
     PRIMARY KEY (account_id, hash)
   ) WITHOUT ROWID;
   CREATE INDEX content_hashes_seen ON content_hashes (seen_at);`,
];

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

export class SqliteStore implements Store {
  private readonly db: SqliteDatabase;
  private readonly stmt;
  private readonly accounts: SqliteAccounts;
  private readonly dedupe: SqliteDedupe;
  /** Endpoints known to be stored, so a batch does not write one per postback. */
  private readonly knownEndpoints = new Set<string>();

  constructor(db: SqliteDatabase) {
    this.db = db;
    migrate(db, "store", MIGRATIONS);
    this.accounts = new SqliteAccounts(db);
    this.dedupe = new SqliteDedupe(db);
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
    this.remember(this.db.transaction(this.recordTx).immediate(records));
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
    this.remember(this.db.transaction(this.cancelTx).immediate(records));
  }

  async listFailedPostbacks(destinationId: string, range: { from: number; to: number }, page: Page): Promise<ResendCandidate[]> {
    const rows = this.stmt.failed.all(destinationId, range.from, range.to, page.after ?? "", page.limit) as CandidateRow[];
    return rows.map(candidateFromRow);
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

  async recordFailures(failures: DestinationFailure[]): Promise<string[]> {
    return failures.length === 0 ? [] : this.accounts.recordFailures(failures);
  }

  async createAccount(account: Account): Promise<void> {
    this.accounts.createAccount(account);
  }

  async getAccount(id: string): Promise<Account | undefined> {
    return this.accounts.getAccount(id);
  }

  async listAccounts(page: Page): Promise<Account[]> {
    return this.accounts.listAccounts(page);
  }

  async updateAccount(id: string, patch: AccountPatch, now: number): Promise<Account | undefined> {
    return this.accounts.updateAccount(id, patch, now);
  }

  async deleteAccount(id: string): Promise<string[] | undefined> {
    return this.accounts.deleteAccount(id);
  }

  async createToken(token: Token, hash: Buffer): Promise<void> {
    this.accounts.createToken(token, hash);
  }

  async findToken(hash: Buffer): Promise<Token | undefined> {
    return this.accounts.findToken(hash);
  }

  async listTokens(accountId: string): Promise<Token[]> {
    return this.accounts.listTokens(accountId);
  }

  async revokeToken(accountId: string, tokenId: string, now: number): Promise<boolean> {
    return this.accounts.revokeToken(accountId, tokenId, now);
  }

  async createDestination(destination: Destination): Promise<void> {
    this.accounts.createDestination(destination);
  }

  async getDestination(id: string): Promise<Destination | undefined> {
    return this.accounts.getDestination(id);
  }

  async listDestinations(accountId: string, page: Page): Promise<Destination[]> {
    return this.accounts.listDestinations(accountId, page);
  }

  async accountDestinations(accountId: string): Promise<Destination[]> {
    return this.accounts.accountDestinations(accountId);
  }

  async findDestination(accountId: string, method: string, url: string): Promise<Destination | undefined> {
    return this.accounts.findDestination(accountId, method, url);
  }

  async updateDestination(id: string, patch: DestinationPatch, now: number): Promise<Destination | undefined> {
    return this.accounts.updateDestination(id, patch, now);
  }

  async deleteDestination(id: string): Promise<boolean> {
    return this.accounts.deleteDestination(id);
  }

  async claimIdempotencyKey(scope: string, key: string, fingerprint: string, now: number, ttlMs: number, staleMs: number): Promise<IdempotencyClaim> {
    return this.dedupe.claimIdempotencyKey(scope, key, fingerprint, now, ttlMs, staleMs);
  }

  async answerIdempotencyKey(scope: string, key: string, status: number, body: string, now: number): Promise<void> {
    this.dedupe.answerIdempotencyKey(scope, key, status, body, now);
  }

  async releaseIdempotencyKey(scope: string, key: string): Promise<void> {
    this.dedupe.releaseIdempotencyKey(scope, key);
  }

  async markSeen(accountId: string, hashes: string[], now: number, windowMs: number): Promise<boolean[]> {
    return hashes.length === 0 ? [] : this.dedupe.markSeen(accountId, hashes, now, windowMs);
  }

  async unmarkSeen(accountId: string, hashes: string[]): Promise<void> {
    this.dedupe.unmarkSeen(accountId, hashes);
  }

  async pruneDedupe(before: number): Promise<void> {
    this.dedupe.pruneDedupe(before);
  }

  async ping(): Promise<void> {
    if (!this.db.open) throw new Error("the SQLite database is closed");
    this.db.prepare("SELECT 1").get();
  }

  async close(): Promise<void> {
    // The connection is shared with the queue; the backend that opened it closes it.
  }
}
