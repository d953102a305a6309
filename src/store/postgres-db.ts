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
