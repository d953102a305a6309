import { after } from "node:test";
import { accountsSuite } from "./e2e/accounts.js";
import { createDatabase, type TestDatabase } from "./support/postgres.js";

// The store in a real Postgres (the local server, or FERRY_TEST_DATABASE_URL), a database of
// its own per pipeline so that listings hold only that pipeline's accounts; the queue in SQLite.
const databases: TestDatabase[] = [];
after(async () => {
  for (const db of databases) await db.drop();
});

accountsSuite("Postgres store", async () => {
  const db = await createDatabase("ferry_accounts");
  databases.push(db);
  return { database_url: db.url, migrate_on_start: true };
});
