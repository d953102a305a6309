/**
 * What the Postgres store's callers see when pg throws. The server unreachable, a connection
 * dropped or timed out, the server shutting down or out of connections, the pool closed: an
 * outage, so StoreUnavailableError with pg's error as `cause` (the API answers
 * store_unavailable; a worker holds its records and retries). Anything else (a NOT NULL
 * violation, bad SQL) is a bug in the caller or here, and stays pg's own error.
 */
import { StoreUnavailableError } from "../core/port-errors.js";

/** SQLSTATE classes and codes that say "not now": connection exception, insufficient resources, shutdown, timeout. */
const UNAVAILABLE_SQLSTATE = /^(08...|53...|57P0[1-3]|57014)$/;

/** Node's socket and DNS errors. */
const UNAVAILABLE_NODE = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);

/** pg's own errors, which carry no code: a connection lost or timed out, a closed pool or client. */
const UNAVAILABLE_MESSAGE = /Connection terminated|timeout exceeded when trying to connect|Query read timeout|is not queryable|after calling end on the pool/;

function isUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; errors?: unknown[] } | null;
  if (!e) return false;
  const code = typeof e.code === "string" ? e.code : "";
  if (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_NODE.has(code)) return true;
  if (typeof e.message === "string" && UNAVAILABLE_MESSAGE.test(e.message)) return true;
  // Node reports a refused connection to a name with several addresses as an AggregateError.
  return Array.isArray(e.errors) && e.errors.some(isUnavailable);
}

/** The error to throw for what pg threw. */
export function postgresError(err: unknown): unknown {
  if (err instanceof StoreUnavailableError || !isUnavailable(err)) return err;
  const message = err instanceof Error && err.message ? err.message : String((err as { code?: unknown }).code ?? err);
  return new StoreUnavailableError(`the Postgres store is unavailable: ${message}`, { cause: err });
}

/** True when `err` is a UNIQUE violation of accounts.external_id. */
export function isDuplicateExternalId(err: unknown): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  return e?.code === "23505" && e.constraint === "accounts_external_id";
}

/** True when `err` says a row with this primary key exists already (not another UNIQUE constraint). */
export function isDuplicateKey(err: unknown): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  return e?.code === "23505" && typeof e.constraint === "string" && e.constraint.endsWith("_pkey");
}
