/**
 * The servers behind the redis-postgres backend: a redis-server of the bench's own (the tests'
 * startRedis: a free port, a password, AOF) and fresh Postgres databases on the local server
 * (the tests' createDatabase, dropped at the end). Also the Redis INFO figures the report uses.
 */
import { execFileSync } from "node:child_process";
import { Redis } from "ioredis";
import pg from "pg";
import { startRedis, type TestRedis } from "../test/support/redis.js";
import { createDatabase, serverUrl, type TestDatabase } from "../test/support/postgres.js";

export interface Services {
  redis: TestRedis;
  redisVersion: string;
  redisPid: number;
  postgresVersion: string;
  /** A fresh database; dropped by `close`. */
  database(): Promise<TestDatabase>;
  /** total_net_input_bytes + total_net_output_bytes, from INFO stats. */
  netBytes(): Promise<{ input: number; output: number }>;
  usedMemory(): Promise<number>;
  close(): Promise<void>;
}

/** Why redis-postgres cannot run here, or undefined when it can. */
export async function unavailable(): Promise<string | undefined> {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
  } catch {
    return "redis-server is not on PATH";
  }
  const client = new pg.Client({ connectionString: serverUrl(), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
  } catch (err) {
    return `Postgres at ${serverUrl().replace(/:[^:@/]*@/, ":***@")} cannot be reached: ${(err as Error).message}`;
  } finally {
    await client.end().catch(() => {});
  }
  return undefined;
}

export async function startServices(appendfsync: "always" | "everysec" | "no"): Promise<Services> {
  const redis = await startRedis();
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  if (appendfsync !== "always") await client.config("SET", "appendfsync", appendfsync);
  const info = async (section: string) => (await client.info(section)) as string;
  const field = (text: string, name: string) => new RegExp(`^${name}:(.+)$`, "m").exec(text)?.[1]?.trim() ?? "";
  const server = await info("server");
  const redisVersion = field(server, "redis_version");
  const redisPid = Number(field(server, "process_id"));
  const pgClient = new pg.Client({ connectionString: serverUrl() });
  await pgClient.connect();
  const postgresVersion = String((await pgClient.query("SHOW server_version")).rows[0]?.server_version ?? "");
  await pgClient.end();
  const databases: TestDatabase[] = [];
  return {
    redis,
    redisVersion,
    redisPid,
    postgresVersion,
    async database() {
      const db = await createDatabase("ferry_bench");
      databases.push(db);
      return db;
    },
    async netBytes() {
      const stats = await info("stats");
      return { input: Number(field(stats, "total_net_input_bytes")), output: Number(field(stats, "total_net_output_bytes")) };
    },
    async usedMemory() {
      return Number(field(await info("memory"), "used_memory"));
    },
    async close() {
      client.disconnect();
      await redis.close();
      for (const db of databases) await db.drop().catch(() => {});
    },
  };
}
