/**
 * The Postgres store, chosen when FERRY_DATABASE_URL is set: endpoints, postbacks and attempts
 * in a Postgres database shared by every Ferry process. Schema: ./postgres-migrations.ts.
 *
 * A batch of attempt records is one SQL statement, so one round trip and atomic. The pool
 * outlives the server going away: queries fail (the worker holds its records and retries with
 * backoff) until it is back, then new connections are made.
 */
import pg from "pg";
import type { Endpoint } from "../core/types.js";
import { BackendError, redact } from "../backend-error.js";
import { appliedVersions, applyMigrations, connectError, pendingVersions, reason } from "./postgres-migrations.js";
import type { Attempt, AttemptRecord, PostbackRecord, Store } from "./port.js";
import { postbackFromRow, type PostbackRow } from "./rows.js";

export interface PostgresStoreOptions {
  /** Apply pending migrations first (FERRY_MIGRATE_ON_START); otherwise refuse an unmigrated database. */
  migrate: boolean;
  /** Connections this process may open. */
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

// Data-modifying CTEs all run to completion in one statement, which is one transaction.
// Each ON CONFLICT DO UPDATE may touch a row once per statement: recordAttempts sends at most
// one postback row per id and one attempt row per (postback, attempt).
const RECORD_SQL = `
WITH new_endpoints AS (
  INSERT INTO endpoints (id, method, url, default_value, max_attempts)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[])
  ON CONFLICT (id) DO NOTHING
), new_postbacks AS (
  INSERT INTO postbacks (id, endpoint_id, data, state, attempts, created_at, updated_at, next_attempt_at, reason)
  SELECT * FROM unnest($6::text[], $7::text[], $8::text[], $9::text[], $10::int[], $11::bigint[], $12::bigint[], $13::bigint[], $14::text[])
  ON CONFLICT (id) DO UPDATE SET state = excluded.state, attempts = excluded.attempts, updated_at = excluded.updated_at,
    next_attempt_at = excluded.next_attempt_at, reason = excluded.reason
  WHERE excluded.attempts >= postbacks.attempts -- an earlier attempt recorded late does not undo a later one
)
INSERT INTO attempts (postback_id, attempt, started_at, duration_ms, url, status_code, error, error_message, response_body)
SELECT * FROM unnest($15::text[], $16::int[], $17::bigint[], $18::float8[], $19::text[], $20::int[], $21::text[], $22::text[], $23::text[])
ON CONFLICT (postback_id, attempt) DO UPDATE SET started_at = excluded.started_at, duration_ms = excluded.duration_ms,
  url = excluded.url, status_code = excluded.status_code, error = excluded.error, error_message = excluded.error_message,
  response_body = excluded.response_body`;

// One statement, so the postback and its attempts come from one snapshot.
const GET_SQL = `
SELECT p.id, p.data, p.state, p.created_at, p.updated_at, p.next_attempt_at, p.reason,
       e.id AS endpoint_id, e.method, e.url, e.default_value, e.max_attempts,
       (SELECT coalesce(json_agg(json_build_object(
                 'attempt', a.attempt, 'startedAt', a.started_at, 'durationMs', a.duration_ms, 'url', a.url,
                 'statusCode', a.status_code, 'error', a.error, 'errorMessage', a.error_message,
                 'responseBody', a.response_body) ORDER BY a.attempt), '[]'::json)
        FROM attempts a WHERE a.postback_id = p.id) AS attempts
FROM postbacks p JOIN endpoints e ON e.id = p.endpoint_id
WHERE p.id = $1`;

interface PostbackRowWithAttempts extends PostbackRow {
  attempts: Attempt[];
}

/**
 * Postgres text cannot hold U+0000, and one such character would fail the whole batch again on
 * every retry. It can come only from a partner (a binary response body): keep the rest of it.
 */
function text<T extends string | null>(s: T): T {
  return (s !== null && s.includes("\u0000") ? s.replaceAll("\u0000", "\uFFFD") : s) as T;
}

function compare(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

export class PostgresStore implements Store {
  private constructor(private readonly pool: pg.Pool) {}

  static async connect(url: string, options: PostgresStoreOptions): Promise<PostgresStore> {
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
    return new PostgresStore(pool);
  }

  async recordAttempts(records: AttemptRecord[]): Promise<void> {
    if (records.length === 0) return;
    const endpoints = new Map<string, Endpoint>();
    // Per postback the record with the highest attempt, the later one on a tie: the state the
    // batch applied in order would leave. Per (postback, attempt) the last one.
    const postbacks = new Map<string, AttemptRecord>();
    const attempts = new Map<string, AttemptRecord>();
    for (const r of records) {
      endpoints.set(r.endpoint.id, r.endpoint);
      const kept = postbacks.get(r.postbackId);
      if (!kept || r.attempt >= kept.attempt) postbacks.set(r.postbackId, r);
      attempts.set(`${r.postbackId}\n${r.attempt}`, r);
    }
    // Rows in key order, so that two workers writing the same new endpoint (or, after a lease
    // ran out, the same postback) lock the rows in the same order and cannot deadlock.
    const e = [...endpoints.values()].sort((x, y) => compare(x.id, y.id));
    const p = [...postbacks.values()].sort((x, y) => compare(x.postbackId, y.postbackId));
    const a = [...attempts.values()].sort((x, y) => compare(x.postbackId, y.postbackId) || x.attempt - y.attempt);
    await this.pool.query({
      name: "ferry_record_attempts",
      text: RECORD_SQL,
      values: [
        e.map((x) => x.id),
        e.map((x) => x.method),
        e.map((x) => text(x.url)),
        e.map((x) => text(x.defaultValue)),
        e.map((x) => x.maxAttempts),
        p.map((r) => r.postbackId),
        p.map((r) => r.endpoint.id),
        p.map((r) => text(r.data)),
        p.map((r) => r.state),
        p.map((r) => r.attempt),
        p.map((r) => r.createdAt),
        p.map((r) => r.startedAt + Math.round(r.durationMs)),
        p.map((r) => r.nextAttemptAt),
        p.map((r) => text(r.reason)),
        a.map((r) => r.postbackId),
        a.map((r) => r.attempt),
        a.map((r) => r.startedAt),
        a.map((r) => r.durationMs),
        a.map((r) => text(r.url)),
        a.map((r) => r.statusCode),
        a.map((r) => r.error),
        a.map((r) => text(r.errorMessage)),
        a.map((r) => text(r.responseBody)),
      ],
    });
  }

  async getPostback(id: string): Promise<PostbackRecord | undefined> {
    const { rows } = await this.pool.query<PostbackRowWithAttempts>({ name: "ferry_get_postback", text: GET_SQL, values: [id] });
    const row = rows[0];
    return row ? postbackFromRow(row, row.attempts) : undefined;
  }

  async ping(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Postgres did not answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.pool.query({ text: "SELECT 1", query_timeout: PING_TIMEOUT_MS } as pg.QueryConfig), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (!this.pool.ending) await this.pool.end();
  }
}
