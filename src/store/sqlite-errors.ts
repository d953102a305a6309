/**
 * What the SQLite store's callers see when better-sqlite3 throws. A database that is closed,
 * locked by another process past busy_timeout, or failing at the file level is an outage:
 * StoreUnavailableError, the driver's error as `cause`, so the API answers store_unavailable
 * and a worker holds its records and retries. Anything else (a NOT NULL or CHECK violation,
 * bad SQL) is a bug in the caller or here, and stays the driver's own error.
 */
import { StoreUnavailableError } from "../core/port-errors.js";
import type { SqliteDatabase } from "../sqlite.js";

/** Result codes (primary, before the first extended "_" part) that say "not now", not "never". */
const UNAVAILABLE = new Set(["SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_FULL", "SQLITE_NOMEM", "SQLITE_PROTOCOL", "SQLITE_READONLY"]);

function code(err: unknown): string {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === "string" ? c : "";
}

/** The error to throw for `err`, thrown by a call on `db`. */
export function sqliteError(db: SqliteDatabase, err: unknown): unknown {
  if (err instanceof StoreUnavailableError) return err;
  // better-sqlite3 says "The database connection is not open" with a plain TypeError.
  const primary = code(err).split("_").slice(0, 2).join("_");
  if (!db.open || UNAVAILABLE.has(primary)) {
    const message = err instanceof Error ? err.message : String(err);
    return new StoreUnavailableError(`the SQLite store is unavailable: ${message}`, { cause: err });
  }
  return err;
}

/** Runs one synchronous call on the database, its errors translated by sqliteError. */
export function onSqlite<T>(db: SqliteDatabase, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw sqliteError(db, err);
  }
}

/** True when `err` is a UNIQUE violation of accounts.external_id. */
export function isDuplicateExternalId(err: unknown): boolean {
  return code(err) === "SQLITE_CONSTRAINT_UNIQUE" && /accounts\.external_id/.test((err as Error).message);
}

/** True when `err` says a row with this primary key exists already (not another UNIQUE index). */
export function isDuplicateKey(err: unknown): boolean {
  return code(err) === "SQLITE_CONSTRAINT_PRIMARYKEY";
}
