/**
 * The seeded fuzz suite (test/support/fuzz.ts) on the scale-out backends: a redis-server of the
 * file's own (own port, a password) for the queue and a database of its own for the store.
 */
import { after } from "node:test";
import { fuzzSuite } from "./support/fuzz.js";
import { startRedis } from "./support/redis.js";
import { createDatabase } from "./support/postgres.js";

const redis = await startRedis();
const database = await createDatabase("ferry_fuzz");
after(async () => {
  await redis.close();
  await database.drop();
});

fuzzSuite("Redis and Postgres", () => ({
  redis_url: redis.url,
  redis_prefix: "fuzz",
  database_url: database.url,
  migrate_on_start: true,
}));

// The seed systems' routes too (FERRY_COMPAT), on their own Redis prefix; the store is shared,
// and the second run's targets are its own accounts.
fuzzSuite(
  "Redis and Postgres, FERRY_COMPAT",
  () => ({ redis_url: redis.url, redis_prefix: "fuzz-compat", database_url: database.url, migrate_on_start: true }),
  { compat: true, count: 3000 },
);
