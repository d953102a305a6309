/**
 * Chooses and opens the queue and store adapters the config asks for. The embedded default:
 * both in one SQLite file in the data dir. FERRY_REDIS_URL moves the queue to Redis,
 * FERRY_DATABASE_URL the store to Postgres; either may be set without the other. Destination
 * limits (concurrency, rate_limit) live where the queue does: in Redis, shared by every worker
 * on it, or in the worker's own memory on the embedded default (one worker process).
 */
import { join } from "node:path";
import type { Logger } from "pino";
import type { Config } from "./config.js";
import type { FinishAndTake, Queue } from "./queue/port.js";
import type { Stores } from "./store/port.js";
import { SqliteQueue } from "./queue/sqlite.js";
import { openSqliteStores } from "./store/sqlite.js";
import { SqliteFinishAndTake } from "./store/sqlite-finished-work.js";
import { RedisQueue } from "./queue/redis.js";
import { connectPostgresStores } from "./store/postgres.js";
import { openSqlite, type SqliteDatabase } from "./sqlite.js";
import { redact } from "./backend-error.js";
import type { LimitStore } from "./limits/port.js";
import { MemoryLimitStore } from "./limits/memory.js";
import { RedisLimitStore } from "./limits/redis.js";
import { describeTarget, redisTarget } from "./redis-connection.js";
export { BackendError, redact } from "./backend-error.js";

export interface Backends {
  queue: Queue;
  stores: Stores;
  /** Destinations' concurrency and rate limits, for the worker. */
  limits: LimitStore;
  /**
   * Finished work written, settled and the next batch reserved in one transaction: only when
   * the queue and the stores share one connection (the embedded default, both in SQLite).
   */
  finishAndTake?: FinishAndTake;
  /** What runs where, for the start-up log line; no password in it. */
  describe: string;
  close(): Promise<void>;
}

export function sqlitePath(config: Pick<Config, "data_dir">): string {
  return join(config.data_dir, "ferry.db");
}

/**
 * `delivers: true` only for a process that runs a worker (`ferry worker`, `ferry start`'s
 * delivery thread): only a worker asks destination limits, so only it opens a Redis connection
 * for them. Off by default, so a new caller that delivers nothing (a CLI command) opens none.
 */
export async function openBackends(config: Config, logger?: Logger, options: { delivers?: boolean } = {}): Promise<Backends> {
  let db: SqliteDatabase | undefined;
  const sqlite = () => (db ??= openSqlite(sqlitePath(config), { synchronous: config.sqlite_synchronous as "normal" | "full" }));
  const opened: { close(): Promise<void> }[] = [];
  // Direct at FERRY_REDIS_URL, or the primary FERRY_REDIS_SENTINELS name: every connection alike.
  const redis = redisTarget(config);
  try {
    const queue: Queue = redis
      ? await RedisQueue.connect(redis, {
          prefix: config.redis_prefix,
          commandTimeoutMs: config.redis_command_timeout_ms,
          waitReplicas: config.redis_wait_replicas,
          waitTimeoutMs: config.redis_wait_timeout_ms,
          ...(logger ? { logger } : {}),
        })
      : new SqliteQueue(sqlite());
    opened.push(queue);
    const sqliteStores = config.database_url ? undefined : openSqliteStores(sqlite());
    const stores: Stores = sqliteStores ?? (await connectPostgresStores(config.database_url!, { migrate: config.migrate_on_start }));
    opened.push(stores);
    // Both on the one connection of sqlite(): their writes can share a transaction.
    const finishAndTake = queue instanceof SqliteQueue && sqliteStores
      ? new SqliteFinishAndTake(queue, sqliteStores.postbacks, sqliteStores.accounts)
      : undefined;
    const limits: LimitStore = redis && options.delivers === true
      ? await RedisLimitStore.connect(redis, { prefix: config.redis_prefix, commandTimeoutMs: config.redis_command_timeout_ms })
      : new MemoryLimitStore();
    opened.push(limits);
    const where = [
      redis ? `queue in Redis ${describeTarget(redis)}` : `queue in SQLite ${sqlitePath(config)}`,
      config.database_url ? `store in Postgres ${redact(config.database_url)}` : `store in SQLite ${sqlitePath(config)}`,
    ];
    return {
      queue,
      stores,
      limits,
      ...(finishAndTake ? { finishAndTake } : {}),
      describe: where.join(", "),
      async close() {
        await limits.close();
        await queue.close();
        await stores.close();
        db?.close();
      },
    };
  } catch (err) {
    for (const o of opened) await o.close().catch(() => {});
    db?.close();
    throw err;
  }
}
