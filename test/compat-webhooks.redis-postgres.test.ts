/** fun-with-webhooks' core flow (test/e2e/webhooks.ts) with Redis as the queue and Postgres as the store. */
import { after } from "node:test";
import { webhooksSuite } from "./e2e/webhooks.js";
import { startRedis } from "./support/redis.js";
import { createDatabase } from "./support/postgres.js";

const redis = await startRedis();
const database = await createDatabase("ferry_webhooks");
after(async () => {
  await redis.close();
  await database.drop();
});

webhooksSuite("Redis and Postgres", () => ({
  redis_url: redis.url,
  redis_prefix: "webhooks",
  database_url: database.url,
  migrate_on_start: true,
}));
