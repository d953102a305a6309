import { after } from "node:test";
import { fanoutSuite } from "./e2e/fanout.js";
import { startRedis } from "./support/redis.js";
import { createDatabase } from "./support/postgres.js";

const redis = await startRedis();
const database = await createDatabase("ferry_dest");
after(async () => {
  await redis.close();
  await database.drop();
});

let pipelines = 0;
fanoutSuite("Redis and Postgres", () => ({
  redis_url: redis.url,
  redis_prefix: `dest${++pipelines}`,
  database_url: database.url,
  migrate_on_start: true,
}));
