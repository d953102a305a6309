/** One Postgres transaction on a pooled connection, for the store's read-modify-write methods. */
import type pg from "pg";

/**
 * Runs `fn` between BEGIN and COMMIT on one connection; rolls back when it throws. A connection
 * that cannot even roll back (the server went away) is destroyed, not returned to the pool.
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
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
    throw err;
  } finally {
    client.release(broken);
  }
}
