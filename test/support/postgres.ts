/**
 * A real Postgres database of the test's own: created on the server named by
 * FERRY_TEST_DATABASE_URL (or FERRY_DATABASE_URL, or the local server on 5432), dropped after.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

export interface TestDatabase {
  /** postgres://…/<the new database> */
  url: string;
  name: string;
  /** Drops the database, ending any connection still open to it. */
  drop(): Promise<void>;
}

export function serverUrl(): string {
  return process.env["FERRY_TEST_DATABASE_URL"] ?? process.env["FERRY_DATABASE_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres";
}

export async function createDatabase(prefix = "ferry_test"): Promise<TestDatabase> {
  const admin = serverUrl();
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
