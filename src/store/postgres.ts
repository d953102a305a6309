/**
 * The Postgres stores, chosen when FERRY_DATABASE_URL is set: connectPostgresStores opens one
 * pool, checks (or applies) the schema once, and hands out the three stores sharing it —
 * ./postgres-postbacks.ts, ./postgres-accounts.ts and ./postgres-dedupe.ts. Schema:
 * ./postgres-migrations.ts.
 *
 * The pool outlives the server going away: calls fail with StoreUnavailableError (the worker
 * holds its records and retries with backoff) until it is back, then new connections are made.
 */
import pg from "pg";
import { BackendError, redact } from "../backend-error.js";
import { StoreUnavailableError } from "../core/port-errors.js";
import { appliedVersions, applyMigrations, connectError, pendingVersions, reason } from "./postgres-migrations.js";
import { PostgresAccountStore } from "./postgres-accounts.js";
import { PostgresDb } from "./postgres-db.js";
import { PostgresDedupeStore } from "./postgres-dedupe.js";
import { PostgresEventStore } from "./postgres-events.js";
import { PostgresPostbackStore } from "./postgres-postbacks.js";
import type { Stores } from "./port.js";

export interface PostgresStoresOptions {
  /** Apply pending migrations first (FERRY_MIGRATE_ON_START); otherwise refuse an unmigrated database. */
  migrate: boolean;
  /** Connections this process may open, shared by the three stores. */
  poolSize?: number;
}

/** How long /readyz waits for the database before calling it unreachable. */
const PING_TIMEOUT_MS = 2_000;

const INT8_OID = 20;
// Times are ms since the epoch (< 2^53), so a JS number holds them exactly; pg's default for
// bigint is a string. Set on this pool only, not on pg's global type table.
const types: pg.CustomTypesConfig = {
  getTypeParser: (oid, format) => (oid === INT8_OID && format !== "binary" ? Number : pg.types.getTypeParser(oid, format)),
};

/**
 * Connects to `url` and returns the three stores on one pool. Start-up failures (unreachable,
 * unmigrated) are one-line BackendErrors naming FERRY_DATABASE_URL, without the password.
 */
export async function connectPostgresStores(url: string, options: PostgresStoresOptions): Promise<Stores> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    application_name: "ferry",
    types,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // A statement stuck behind a lock or a dead link fails, so the worker backs off and tries
    // again instead of waiting on it forever.
    statement_timeout: 30_000,
    query_timeout: 35_000,
    keepAlive: true,
  });
  // An idle client whose server went away emits 'error' on the pool; unhandled, that would end
  // the process. The pool drops that client and the next query connects anew.
  pool.on("error", () => {});
  try {
    await pool.query("SELECT 1").catch((err: unknown) => {
      throw connectError(url, err);
    });
    if (options.migrate) {
      const client = await pool.connect().catch((err: unknown) => {
        throw connectError(url, err);
      });
      try {
        await applyMigrations(client);
      } catch (err) {
        throw new BackendError(`FERRY_MIGRATE_ON_START: could not migrate ${redact(url)}: ${reason(url, err)}`, { cause: err });
      } finally {
        client.release();
      }
    } else if (
      pendingVersions(
        await appliedVersions(pool).catch((err: unknown) => {
          throw new BackendError(`FERRY_DATABASE_URL: cannot read the schema version in ${redact(url)}: ${reason(url, err)}`, { cause: err });
        }),
      ).length > 0
    ) {
      throw new BackendError(
        `FERRY_DATABASE_URL: the database ${redact(url)} lacks Ferry's schema (or part of it): ` +
          "run `ferry migrate` with the same FERRY_DATABASE_URL, or set FERRY_MIGRATE_ON_START=true",
      );
    }
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  const db = new PostgresDb(pool);
  return {
    postbacks: new PostgresPostbackStore(db),
    accounts: new PostgresAccountStore(db),
    dedupe: new PostgresDedupeStore(db),
    events: new PostgresEventStore(db),
    ping: () => ping(db),
    async close() {
      if (!pool.ending) await pool.end();
    },
  };
}

async function ping(db: PostgresDb): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreUnavailableError(`the Postgres store is unavailable: no answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
  });
  try {
    await Promise.race([db.query({ text: "SELECT 1", query_timeout: PING_TIMEOUT_MS } as pg.QueryConfig), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
