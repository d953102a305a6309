/**
 * The SQLite stores, in the embedded database file (shared with the SQLite queue):
 * openSqliteStores migrates the file once and hands out the three stores on its one
 * connection — ./sqlite-postbacks.ts, ./sqlite-accounts.ts and ./sqlite-dedupe.ts. Limits: one
 * writer at a time across processes.
 */
import type { SqliteDatabase } from "../sqlite.js";
import { migrate } from "../sqlite.js";
import type { Stores } from "./port.js";
import { SqliteAccountStore } from "./sqlite-accounts.js";
import { SqliteDedupeStore } from "./sqlite-dedupe.js";
import { onSqlite } from "./sqlite-errors.js";
import { SqliteEventStore } from "./sqlite-events.js";
import { SqlitePostbackStore } from "./sqlite-postbacks.js";

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
  // Accounts, tokens and destinations (added after postbacks, hence migration 2). An endpoint names its owner and destination;
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
  // Events (issue 10), their sessions' summaries, the fan-out outbox and event types; see
  // ./sqlite-events.ts. A rowid table, not WITHOUT ROWID: rows carry the event's data, and the
  // indexes point at a small rowid. Each index serves one query: a session's events, a category
  // over time, the account over time, a client id's repeat, retention by received time.
  `CREATE TABLE events (
     id TEXT PRIMARY KEY NOT NULL,
     account_id TEXT NOT NULL,
     client_id TEXT,
     session_id TEXT NOT NULL,
     category TEXT NOT NULL,
     name TEXT NOT NULL,
     data TEXT NOT NULL,
     timestamp_us INTEGER NOT NULL,
     received_at INTEGER NOT NULL
   );
   CREATE UNIQUE INDEX events_client ON events (account_id, client_id) WHERE client_id IS NOT NULL;
   CREATE INDEX events_session ON events (account_id, session_id, timestamp_us, id);
   CREATE INDEX events_category ON events (account_id, category, timestamp_us, id);
   CREATE INDEX events_time ON events (account_id, timestamp_us, id);
   CREATE INDEX events_received ON events (account_id, received_at);
   CREATE TABLE event_outbox (
     event_id TEXT PRIMARY KEY
   ) WITHOUT ROWID;
   CREATE TABLE event_sessions (
     account_id TEXT NOT NULL,
     session_id TEXT NOT NULL,
     count INTEGER NOT NULL,
     first_us INTEGER NOT NULL,
     last_us INTEGER NOT NULL,
     PRIMARY KEY (account_id, session_id)
   ) WITHOUT ROWID;
   CREATE INDEX event_sessions_last ON event_sessions (account_id, last_us, session_id, first_us, count);
   CREATE TABLE event_types (
     account_id TEXT NOT NULL,
     category TEXT NOT NULL,
     schema TEXT NOT NULL,
     description TEXT,
     version INTEGER NOT NULL,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (account_id, category)
   ) WITHOUT ROWID;
   ALTER TABLE accounts ADD COLUMN strict_event_types INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE accounts ADD COLUMN event_retention_ms INTEGER;`,
];

/**
 * Migrates `db` (component "store") and returns the three stores on it. Closing them leaves
 * `db` open: the connection is shared with the queue, and whoever opened it closes it.
 */
export function openSqliteStores(db: SqliteDatabase): Stores {
  migrate(db, "store", MIGRATIONS);
  return {
    postbacks: new SqlitePostbackStore(db),
    accounts: new SqliteAccountStore(db),
    dedupe: new SqliteDedupeStore(db),
    events: new SqliteEventStore(db),
    async ping() {
      onSqlite(db, () => db.prepare("SELECT 1").get());
    },
    async close() {},
  };
}
