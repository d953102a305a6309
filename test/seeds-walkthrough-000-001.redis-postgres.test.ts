import { after } from "node:test";
import { seedWalkthroughs000001 } from "./e2e/seeds-000-001.js";
import { startRedis } from "./support/redis.js";
import { createDatabase, type TestDatabase } from "./support/postgres.js";

const redis = await startRedis();
const databases: TestDatabase[] = [];
after(async () => {
  await redis.close();
  for (const database of databases) await database.drop();
});

let prefixes = 0;
seedWalkthroughs000001("Redis and Postgres", async () => {
  const database = await createDatabase("ferry_seeds01");
  databases.push(database);
  return { FERRY_REDIS_URL: redis.url, FERRY_REDIS_PREFIX: `seeds01-${++prefixes}`, FERRY_DATABASE_URL: database.url, FERRY_MIGRATE_ON_START: "true" };
});
