import { after } from "node:test";
import { pipelineSuite } from "./e2e/pipeline.js";
import { startRedis } from "./support/redis.js";
import { createDatabase } from "./support/postgres.js";

// One redis-server (own port, a password) and one database for the file; each pipeline gets
// its own key prefix, and postback ids never collide in the shared database.
const redis = await startRedis();
const database = await createDatabase("ferry_e2e");
after(async () => {
  await redis.close();
  await database.drop();
});

let pipelines = 0;
pipelineSuite("Redis and Postgres", () => ({
  redis_url: redis.url,
  redis_prefix: `e2e${++pipelines}`,
  database_url: database.url,
  migrate_on_start: true,
}));
