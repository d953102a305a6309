import { after } from "node:test";
import { deliveryLogSuite } from "./e2e/delivery-log.js";
import { startRedis } from "./support/redis.js";
import { createDatabase } from "./support/postgres.js";

const redis = await startRedis();
const database = await createDatabase("ferry_log");
after(async () => {
  await redis.close();
  await database.drop();
});

let pipelines = 0;
deliveryLogSuite("Redis and Postgres", () => ({
  redis_url: redis.url,
  redis_prefix: `log${++pipelines}`,
  database_url: database.url,
  migrate_on_start: true,
}));
