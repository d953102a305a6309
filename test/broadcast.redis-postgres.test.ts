import { after } from "node:test";
import { adsSuite } from "./e2e/ads.js";
import { startRedis } from "./support/redis.js";
import { createDatabase } from "./support/postgres.js";

const redis = await startRedis();
const database = await createDatabase("ferry_ads");
after(async () => {
  await redis.close();
  await database.drop();
});

let pipelines = 0;
adsSuite("Redis and Postgres", () => ({
  redis_url: redis.url,
  redis_prefix: `ads${++pipelines}`,
  database_url: database.url,
  migrate_on_start: true,
}));
