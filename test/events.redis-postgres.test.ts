import { after } from "node:test";
import { eventsSuite } from "./e2e/events.js";
import { startRedis } from "./support/redis.js";
import { createDatabase } from "./support/postgres.js";

const redis = await startRedis();
const database = await createDatabase("ferry_events");
after(async () => {
  await redis.close();
  await database.drop();
});

eventsSuite("Redis and Postgres", () => ({
  redis_url: redis.url,
  redis_prefix: "events",
  database_url: database.url,
  migrate_on_start: true,
}));
