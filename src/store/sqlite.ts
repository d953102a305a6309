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
  // The delivery log (issue 11): each postback row names its account and destination and
  // carries its last attempt, so a search reads one row per postback, newest first, through one
  // index per listing: the primary key (all), then (account|destination|state[, state], id).
  // Existing rows are filled from their endpoint and last attempt. delivery_rollups counts
  // outcomes and a latency histogram (l0…l11, see src/core/delivery-log.ts) per destination and
  // minute (and the same per hour in delivery_rollups_hourly, so a day by the hour reads 24 rows
  // per destination), written with each batch of attempts: stats read these, never the raw rows, and they
  // outlive retention (postbacks_state (state, updated_at) serves retention).
  `ALTER TABLE postbacks ADD COLUMN account_id TEXT;
   ALTER TABLE postbacks ADD COLUMN destination_id TEXT;
   ALTER TABLE postbacks ADD COLUMN last_at INTEGER;
   ALTER TABLE postbacks ADD COLUMN last_status INTEGER;
   ALTER TABLE postbacks ADD COLUMN last_error TEXT;
   ALTER TABLE postbacks ADD COLUMN last_duration_ms REAL;
   ALTER TABLE postbacks ADD COLUMN last_url TEXT;
   UPDATE postbacks SET (account_id, destination_id) = (SELECT e.account_id, e.destination_id FROM endpoints e WHERE e.id = postbacks.endpoint_id);
   UPDATE postbacks SET (last_at, last_status, last_error, last_duration_ms, last_url) =
     (SELECT a.started_at, a.status_code, a.error, a.duration_ms, a.url FROM attempts a WHERE a.postback_id = postbacks.id ORDER BY a.attempt DESC LIMIT 1);
   CREATE INDEX postbacks_log_account ON postbacks (account_id, id);
   CREATE INDEX postbacks_log_destination ON postbacks (destination_id, id);
   CREATE INDEX postbacks_log_state ON postbacks (state, id) WHERE state <> 'delivered';
   CREATE INDEX postbacks_log_account_state ON postbacks (account_id, state, id) WHERE state <> 'delivered';
   CREATE INDEX postbacks_log_destination_state ON postbacks (destination_id, state, id) WHERE state <> 'delivered';
   CREATE TABLE delivery_rollups (
     destination_id TEXT NOT NULL,
     minute INTEGER NOT NULL,
     account_id TEXT NOT NULL,
     delivered INTEGER NOT NULL, retry INTEGER NOT NULL, dead INTEGER NOT NULL, cancelled INTEGER NOT NULL, held INTEGER NOT NULL,
     l0 INTEGER NOT NULL, l1 INTEGER NOT NULL, l2 INTEGER NOT NULL, l3 INTEGER NOT NULL, l4 INTEGER NOT NULL, l5 INTEGER NOT NULL,
     l6 INTEGER NOT NULL, l7 INTEGER NOT NULL, l8 INTEGER NOT NULL, l9 INTEGER NOT NULL, l10 INTEGER NOT NULL, l11 INTEGER NOT NULL,
     last_error_at INTEGER,
     last_error_status INTEGER,
     last_error TEXT,
     PRIMARY KEY (destination_id, minute)
   ) WITHOUT ROWID;
   CREATE INDEX delivery_rollups_account ON delivery_rollups (account_id, minute);
   CREATE INDEX delivery_rollups_minute ON delivery_rollups (minute);
   CREATE INDEX delivery_rollups_errors ON delivery_rollups (destination_id, last_error_at) WHERE last_error_at IS NOT NULL;
   CREATE TABLE delivery_rollups_hourly (
     destination_id TEXT NOT NULL,
     minute INTEGER NOT NULL, -- the hour's start
     account_id TEXT NOT NULL,
     delivered INTEGER NOT NULL, retry INTEGER NOT NULL, dead INTEGER NOT NULL, cancelled INTEGER NOT NULL, held INTEGER NOT NULL,
     l0 INTEGER NOT NULL, l1 INTEGER NOT NULL, l2 INTEGER NOT NULL, l3 INTEGER NOT NULL, l4 INTEGER NOT NULL, l5 INTEGER NOT NULL,
     l6 INTEGER NOT NULL, l7 INTEGER NOT NULL, l8 INTEGER NOT NULL, l9 INTEGER NOT NULL, l10 INTEGER NOT NULL, l11 INTEGER NOT NULL,
     last_error_at INTEGER,
     last_error_status INTEGER,
     last_error TEXT,
     PRIMARY KEY (destination_id, minute)
   ) WITHOUT ROWID;
   CREATE INDEX delivery_rollups_hourly_account ON delivery_rollups_hourly (account_id, minute);
   CREATE INDEX delivery_rollups_hourly_minute ON delivery_rollups_hourly (minute);`,
  // The seed systems' compat routes (issue 12): an account's external id (unique when set) names
  // it as another system knew it; a destination's on_disable says whether a disabled
  // destination holds what it is owed or drops it.
  `ALTER TABLE accounts ADD COLUMN external_id TEXT;
   CREATE UNIQUE INDEX accounts_external_id ON accounts (external_id);
   ALTER TABLE destinations ADD COLUMN on_disable TEXT NOT NULL DEFAULT 'hold';`,
  // Delivery partners can trust (issue 14): a rate limit's burst, opt-in ordering, and a pause
  // a partner asked for with Retry-After (visible in the destination's view).
  `ALTER TABLE destinations ADD COLUMN rate_limit_burst INTEGER;
   ALTER TABLE destinations ADD COLUMN ordering TEXT NOT NULL DEFAULT 'none';
   ALTER TABLE destinations ADD COLUMN ordering_key TEXT;
   ALTER TABLE destinations ADD COLUMN paused_until INTEGER;
   ALTER TABLE destinations ADD COLUMN pause_reason TEXT;`,
];

/** The stores as SQLite's: the embedded FinishAndTake writes through them in its own transaction. */
export type SqliteStores = Stores & { postbacks: SqlitePostbackStore; accounts: SqliteAccountStore };

/**
 * Migrates `db` (component "store") and returns the three stores on it. Closing them leaves
 * `db` open: the connection is shared with the queue, and whoever opened it closes it.
 */
export function openSqliteStores(db: SqliteDatabase): SqliteStores {
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
