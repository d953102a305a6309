/**
 * The pool the three Postgres stores share, with every call's error translated by
 * postgresError: an outage becomes StoreUnavailableError in this one place, whichever store
 * and statement ran into it.
 */
import type pg from "pg";
import { postgresError } from "./postgres-errors.js";

export class PostgresDb {
  constructor(readonly pool: pg.Pool) {}

  /** One statement on any pooled connection (a named QueryConfig is prepared once per connection). */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(query: string | pg.QueryConfig, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await (typeof query === "string" ? this.pool.query<R>(query, values) : this.pool.query<R>(query));
    } catch (err) {
      throw postgresError(err);
    }
  }

  /**
   * Runs `fn` between BEGIN and COMMIT on one connection; rolls back when it throws. A
   * connection that cannot even roll back (the server went away) is destroyed, not returned to
   * the pool.
   */
  async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw postgresError(err);
    }
    let broken: Error | undefined;
    try {
      await client.query("BEGIN");
      const result = await fn(client);
      await client.query("COMMIT");
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error(String(e));
      });
      throw postgresError(err);
    } finally {
      client.release(broken);
    }
  }
}

/**
 * A one-dimensional array parameter (text, int, bigint or float8 elements, or null) as
 * Postgres's array literal, written by JSON.stringify: pg builds the literal element by element
 * (escapeElement, prepareValue: 4.5% of a busy worker's CPU with a batch's 25 arrays), while
 * JSON text is the same literal whenever its only escapes are \" and \\ (an array literal's
 * two) — `["a",null,1]` is `{"a",null,1}`, unquoted null being NULL. Any other escape (a
 * control character, a lone surrogate) means the JSON differs: the array goes to pg as it is.
 */
export function pgArray(values: readonly (string | number | null)[]): string | readonly (string | number | null)[] {
  const json = JSON.stringify(values);
  const rest = json.includes("\\\\") ? json.replaceAll("\\\\", "") : json;
  if (/\\[^"]/.test(rest)) return values;
  return `{${json.slice(1, -1)}}`;
}
