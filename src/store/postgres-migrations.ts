/**
 * The Postgres store's schema, as an ordered list of migrations: `STORE_MIGRATIONS[i]` is
 * version i+1 of component "store" in `ferry_migrations`. Append, never edit one that shipped.
 *
 * Applied by `ferry migrate`, or on start-up with FERRY_MIGRATE_ON_START=true. All pending
 * migrations run in one transaction under an advisory lock, so several processes starting at
 * once apply each exactly once, and a failing migration leaves the schema as it was.
 */
import pg from "pg";
import { BackendError, redact } from "../backend-error.js";

const COMPONENT = "store";

/** Taken for the length of the migrating transaction; any constant works, this is "ferry". */
const LOCK_KEY = 0x6665727279;

export const STORE_MIGRATIONS: readonly string[] = [
  // Mirrors the SQLite store. data stays text, not jsonb: it must read back byte for byte.
  // Times are ms since the epoch, as bigint.
  `CREATE TABLE endpoints (
     id text PRIMARY KEY,
     method text NOT NULL,
     url text NOT NULL,
     default_value text NOT NULL,
     max_attempts integer NOT NULL
   );
   CREATE TABLE postbacks (
     id text PRIMARY KEY,
     endpoint_id text NOT NULL,
     data text NOT NULL,
     state text NOT NULL,
     attempts integer NOT NULL,
     created_at bigint NOT NULL,
     updated_at bigint NOT NULL,
     next_attempt_at bigint,
     reason text
   );
   CREATE INDEX postbacks_state ON postbacks (state, updated_at);
   CREATE TABLE attempts (
     postback_id text NOT NULL,
     attempt integer NOT NULL,
     started_at bigint NOT NULL,
     duration_ms double precision NOT NULL,
     url text NOT NULL,
     status_code integer,
     error text,
     error_message text,
     response_body text,
     PRIMARY KEY (postback_id, attempt)
   );`,
  // Accounts, tokens and destinations; mirrors SQLite's migration 2. An endpoint names
  // its owner and destination; a replay lists a destination's failed and dead postbacks through
  // postbacks_failed. JSON stays text (it reads back as written, and JSON text escapes U+0000,
  // which jsonb refuses). New ids sort bytewise (COLLATE "C"), as ULIDs do and SQLite does, so a
  // listing by id is a listing by time whatever the database's collation. A destination's
  // counted failures are an array of failure times on its row.
  `ALTER TABLE endpoints ADD COLUMN account_id text, ADD COLUMN destination_id text;
   CREATE INDEX endpoints_destination ON endpoints (destination_id) WHERE destination_id IS NOT NULL;
   CREATE INDEX postbacks_failed ON postbacks (endpoint_id, created_at) WHERE state IN ('failed', 'dead');
   CREATE TABLE accounts (
     id text COLLATE "C" PRIMARY KEY,
     name text NOT NULL,
     email text,
     website text,
     metadata text NOT NULL,
     dedupe_window_ms bigint NOT NULL,
     created_at bigint NOT NULL,
     updated_at bigint NOT NULL
   );
   CREATE TABLE tokens (
     id text COLLATE "C" PRIMARY KEY,
     account_id text NOT NULL,
     name text,
     hash bytea NOT NULL UNIQUE,
     created_at bigint NOT NULL,
     revoked_at bigint
   );
   CREATE INDEX tokens_account ON tokens (account_id, id);
   CREATE TABLE destinations (
     id text COLLATE "C" PRIMARY KEY,
     account_id text NOT NULL,
     url text NOT NULL,
     method text NOT NULL,
     headers text NOT NULL,
     event_types text NOT NULL,
     enabled boolean NOT NULL,
     disabled_reason text,
     disabled_at bigint,
     timeout_ms integer,
     max_attempts integer,
     default_value text,
     rate_limit double precision,
     concurrency integer,
     failure_threshold integer,
     failure_window_ms bigint,
     secret text NOT NULL,
     created_at bigint NOT NULL,
     updated_at bigint NOT NULL,
     failures bigint[] NOT NULL DEFAULT '{}'
   );
   CREATE INDEX destinations_account ON destinations (account_id, id);
   CREATE TABLE idempotency_keys (
     scope text NOT NULL,
     key text NOT NULL,
     fingerprint text NOT NULL,
     claimed_at bigint NOT NULL,
     answered_at bigint,
     status integer,
     body text,
     PRIMARY KEY (scope, key)
   );
   CREATE INDEX idempotency_keys_age ON idempotency_keys ((coalesce(answered_at, claimed_at)));
   CREATE TABLE content_hashes (
     account_id text NOT NULL,
     hash text NOT NULL,
     seen_at bigint NOT NULL,
     prev_seen_at bigint,
     PRIMARY KEY (account_id, hash)
   );
   CREATE INDEX content_hashes_seen ON content_hashes (seen_at);`,
  // Events (issue 10), their sessions' summaries, the fan-out outbox and event types; mirrors
  // SQLite's migration 3 (see ./postgres-events.ts). Times in microseconds and ms as bigint.
  // Every key compared or ordered on sorts bytewise (COLLATE "C"), as in SQLite, so ties in time
  // and cursors order the same on both stores. Each index serves one query: a session's events,
  // a category over time, the account over time, a client id's repeat, retention.
  `CREATE TABLE events (
     id text COLLATE "C" PRIMARY KEY,
     account_id text COLLATE "C" NOT NULL,
     client_id text COLLATE "C",
     session_id text COLLATE "C" NOT NULL,
     category text COLLATE "C" NOT NULL,
     name text COLLATE "C" NOT NULL,
     data text NOT NULL,
     timestamp_us bigint NOT NULL,
     received_at bigint NOT NULL
   );
   CREATE UNIQUE INDEX events_client ON events (account_id, client_id) WHERE client_id IS NOT NULL;
   CREATE INDEX events_session ON events (account_id, session_id, timestamp_us, id);
   CREATE INDEX events_category ON events (account_id, category, timestamp_us, id);
   CREATE INDEX events_time ON events (account_id, timestamp_us, id);
   CREATE INDEX events_received ON events (account_id, received_at);
   CREATE TABLE event_outbox (
     event_id text COLLATE "C" PRIMARY KEY
   );
   CREATE TABLE event_sessions (
     account_id text COLLATE "C" NOT NULL,
     session_id text COLLATE "C" NOT NULL,
     count bigint NOT NULL,
     first_us bigint NOT NULL,
     last_us bigint NOT NULL,
     PRIMARY KEY (account_id, session_id)
   );
   CREATE INDEX event_sessions_last ON event_sessions (account_id, last_us, session_id) INCLUDE (first_us, count);
   CREATE TABLE event_types (
     account_id text COLLATE "C" NOT NULL,
     category text COLLATE "C" NOT NULL,
     schema text NOT NULL,
     description text,
     version integer NOT NULL,
     created_at bigint NOT NULL,
     updated_at bigint NOT NULL,
     PRIMARY KEY (account_id, category)
   );
   ALTER TABLE accounts ADD COLUMN strict_event_types boolean NOT NULL DEFAULT false,
     ADD COLUMN event_retention_ms bigint;`,
  // The delivery log (issue 11); mirrors SQLite's migration 4. Each postback row names its
  // account and destination and carries its last attempt; one index per listing, ids compared
  // bytewise (COLLATE "C") so newest first is the index's order whatever the database's
  // collation. delivery_rollups: outcome counts and a latency histogram per destination and
  // minute (and per hour: delivery_rollups_hourly, its minute column the hour's start), written
  // in the statement that records the attempts.
  `ALTER TABLE postbacks ADD COLUMN account_id text, ADD COLUMN destination_id text, ADD COLUMN last_at bigint,
     ADD COLUMN last_status integer, ADD COLUMN last_error text, ADD COLUMN last_duration_ms double precision, ADD COLUMN last_url text;
   UPDATE postbacks p SET account_id = e.account_id, destination_id = e.destination_id FROM endpoints e WHERE e.id = p.endpoint_id;
   UPDATE postbacks p SET last_at = a.started_at, last_status = a.status_code, last_error = a.error, last_duration_ms = a.duration_ms, last_url = a.url
     FROM (SELECT DISTINCT ON (postback_id) * FROM attempts ORDER BY postback_id, attempt DESC) a WHERE a.postback_id = p.id;
   CREATE INDEX postbacks_log_id ON postbacks (id COLLATE "C");
   CREATE INDEX postbacks_log_account ON postbacks (account_id, id COLLATE "C");
   CREATE INDEX postbacks_log_destination ON postbacks (destination_id, id COLLATE "C");
   CREATE INDEX postbacks_log_state ON postbacks (state, id COLLATE "C") WHERE state <> 'delivered';
   CREATE INDEX postbacks_log_account_state ON postbacks (account_id, state, id COLLATE "C") WHERE state <> 'delivered';
   CREATE INDEX postbacks_log_destination_state ON postbacks (destination_id, state, id COLLATE "C") WHERE state <> 'delivered';
   CREATE TABLE delivery_rollups (
     destination_id text NOT NULL,
     minute bigint NOT NULL,
     account_id text NOT NULL,
     delivered bigint NOT NULL, retry bigint NOT NULL, dead bigint NOT NULL, cancelled bigint NOT NULL, held bigint NOT NULL,
     l0 bigint NOT NULL, l1 bigint NOT NULL, l2 bigint NOT NULL, l3 bigint NOT NULL, l4 bigint NOT NULL, l5 bigint NOT NULL,
     l6 bigint NOT NULL, l7 bigint NOT NULL, l8 bigint NOT NULL, l9 bigint NOT NULL, l10 bigint NOT NULL, l11 bigint NOT NULL,
     last_error_at bigint,
     last_error_status integer,
     last_error text,
     PRIMARY KEY (destination_id, minute)
   );
   CREATE INDEX delivery_rollups_account ON delivery_rollups (account_id, minute);
   CREATE INDEX delivery_rollups_minute ON delivery_rollups (minute);
   CREATE INDEX delivery_rollups_errors ON delivery_rollups (destination_id, last_error_at) WHERE last_error_at IS NOT NULL;
   CREATE TABLE delivery_rollups_hourly (LIKE delivery_rollups INCLUDING DEFAULTS);
   ALTER TABLE delivery_rollups_hourly ADD PRIMARY KEY (destination_id, minute);
   CREATE INDEX delivery_rollups_hourly_account ON delivery_rollups_hourly (account_id, minute);
   CREATE INDEX delivery_rollups_hourly_minute ON delivery_rollups_hourly (minute);`,
  // Mirrors SQLite's migration 5: accounts.external_id (unique when set) and
  // destinations.on_disable. The index's name is what isDuplicateExternalId recognises.
  `ALTER TABLE accounts ADD COLUMN external_id text;
   CREATE UNIQUE INDEX accounts_external_id ON accounts (external_id);
   ALTER TABLE destinations ADD COLUMN on_disable text NOT NULL DEFAULT 'hold';`,
  // Mirrors SQLite's migration 6: burst, ordering, and the Retry-After pause.
  `ALTER TABLE destinations ADD COLUMN rate_limit_burst integer;
   ALTER TABLE destinations ADD COLUMN ordering text NOT NULL DEFAULT 'none';
   ALTER TABLE destinations ADD COLUMN ordering_key text;
   ALTER TABLE destinations ADD COLUMN paused_until bigint;
   ALTER TABLE destinations ADD COLUMN pause_reason text;`,
];

type Queryable = Pick<pg.ClientBase, "query">;

/** Versions of the store schema applied to the database; none when it was never migrated. */
export async function appliedVersions(db: Queryable): Promise<number[]> {
  try {
    const { rows } = await db.query<{ version: number }>(
      "SELECT version FROM ferry_migrations WHERE component = $1 ORDER BY version",
      [COMPONENT],
    );
    return rows.map((r) => r.version);
  } catch (err) {
    if ((err as { code?: string }).code === "42P01") return []; // undefined_table
    throw err;
  }
}

/** The migrations `applied` lacks, by version. */
export function pendingVersions(applied: readonly number[]): number[] {
  const have = new Set(applied);
  return STORE_MIGRATIONS.map((_, i) => i + 1).filter((v) => !have.has(v));
}

/** Applies what is pending on a connected client, in one transaction; returns the versions applied. */
export async function applyMigrations(client: pg.ClientBase): Promise<number[]> {
  await client.query("BEGIN");
  try {
    // Serialises concurrent migrators: the second one waits here, then finds nothing to do.
    await client.query("SELECT pg_advisory_xact_lock($1)", [LOCK_KEY]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ferry_migrations (
         component text NOT NULL,
         version integer NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (component, version)
       )`,
    );
    const pending = pendingVersions(await appliedVersions(client));
    for (const version of pending) {
      await client.query(STORE_MIGRATIONS[version - 1]!);
      await client.query("INSERT INTO ferry_migrations (component, version) VALUES ($1, $2)", [COMPONENT, version]);
    }
    await client.query("COMMIT");
    return pending;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  }
}

/**
 * Connects to `url` and applies the pending migrations. A connection failure is a BackendError
 * naming FERRY_DATABASE_URL; a failing migration rejects with Postgres's error, nothing applied.
 */
export async function migratePostgres(url: string): Promise<{ applied: number[] }> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, application_name: "ferry migrate" });
  // An error after connecting (the server going away) is also reported by the query in flight.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw connectError(url, err);
  }
  try {
    return { applied: await applyMigrations(client) };
  } finally {
    await client.end().catch(() => {});
  }
}

/** The one-line BackendError for a database that cannot be reached or refuses us. */
export function connectError(url: string, err: unknown): BackendError {
  return new BackendError(`FERRY_DATABASE_URL: cannot connect to ${redact(url)}: ${reason(url, err)}`, { cause: err });
}

/** Why a connection failed, on one line and without the password. */
export function reason(url: string, err: unknown): string {
  const e = err as { message?: string; code?: string; errors?: { message?: string }[] } | undefined;
  // Node reports a refused connection to a name with several addresses as an AggregateError
  // with an empty message.
  let text = e?.message || e?.errors?.[0]?.message || e?.code || String(err);
  try {
    const { password } = new URL(url);
    for (const secret of new Set([password, decodeURIComponent(password)])) {
      if (secret) text = text.split(secret).join("***");
    }
  } catch {
    // an unparseable URL has no password to hide
  }
  return text.replace(/\s*\n\s*/g, " ").trim();
}
