/**
 * The Redis limit store: every worker process on one Redis shares each destination's slots
 * and rate (issue 14). One function call per acquire, atomic on the server, on Redis's clock;
 * a Redis function library of its own (`ferry_limits_v1`, the .lua files in src/limits/redis/,
 * each headed by its arguments, keys and replies), apart from the queue's library so that
 * either can change without the other. Loaded with FUNCTION LOAD REPLACE on connect (and again
 * if a restarted Redis has lost it).
 *
 * Keys, under the prefix P (FERRY_REDIS_PREFIX): P:lim:c:<destinationId> (slots: a zset of
 * leases by when they end) and P:lim:r:<destinationId> (the rate's next arrival time); both
 * expire once idle. A slot's lease ends by itself, so a killed worker's slots come back.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Redis } from "ioredis";
import { BackendError } from "../backend-error.js";
import { asTarget, describeConnectError, describeTarget, endRedis, openRedis, targetSetting, type RedisTarget } from "../redis-connection.js";
import { FULL_RETRY_MS, aheadMs, rateToleranceMs, type Acquired, type LimitSettings, type LimitStore } from "./port.js";

/** Versioned: processes of two Ferry versions on one Redis each call their own code. */
export const LIMITS_LIBRARY = "ferry_limits_v1";
export const LIMITS_FUNCTIONS = ["acquire", "release"] as const;

export interface RedisLimitOptions {
  prefix?: string;
  commandTimeoutMs?: number;
}

export class RedisLimitStore implements LimitStore {
  readonly describe: string;
  /** Makes lease names unique across processes without asking Redis for a number. */
  private readonly owner = randomBytes(6).toString("base64url");
  private leases = 0;

  private constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    target: RedisTarget,
  ) {
    this.describe = `destination limits in Redis ${describeTarget(target)}`;
  }

  /**
   * Connects (directly, or to the primary the sentinels name) and loads the library; fails
   * start-up with a BackendError naming FERRY_REDIS_URL (or FERRY_REDIS_SENTINELS).
   */
  static async connect(to: RedisTarget | string, options: RedisLimitOptions = {}): Promise<RedisLimitStore> {
    const target = asTarget(to);
    const sentinelErrors: string[] = [];
    let lastError: Error | undefined;
    let starting = true;
    const redis = openRedis(target, {
      lazyConnect: true,
      // Fail fast while Redis is away: the postback goes back to the queue, it is not held here.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 10_000,
      connectTimeout: 5_000,
      // At start-up one failure is final (asking sentinels again and again would hang it).
      retryStrategy: (times) => (starting ? null : Math.min(times * 100, 2000)),
    }, sentinelErrors);
    // Reported where a command fails; the last one explains a failed start-up.
    redis.on("error", (err: Error) => {
      lastError = err;
    });
    try {
      await redis.connect();
      await loadLibrary(redis);
    } catch (err) {
      void endRedis(redis);
      const reason = describeConnectError(target, (lastError ?? (err as Error)).message, sentinelErrors);
      throw new BackendError(`${targetSetting(target)}: cannot use Redis at ${describeTarget(target)} for destination limits: ${reason}`, { cause: err });
    }
    starting = false;
    return new RedisLimitStore(redis, options.prefix ?? "ferry", target);
  }

  async acquire(destinationId: string, limits: LimitSettings, leaseMs: number): Promise<Acquired> {
    const reply = (await this.fcall(
      "acquire",
      this.prefix,
      destinationId,
      `${this.owner}.${(++this.leases).toString(36)}`,
      Math.max(1, Math.ceil(leaseMs)),
      limits.concurrency ?? "",
      limits.rateLimit ?? "",
      limits.rateLimit === null ? "" : rateToleranceMs(limits),
      limits.rateLimit === null ? "" : aheadMs(limits),
      FULL_RETRY_MS,
    )) as [number, number, string?];
    if (reply[0] === 1) return { granted: true, sendInMs: Number(reply[1]), lease: reply[2] === undefined ? null : String(reply[2]) };
    return { granted: false, retryInMs: Number(reply[1]), reason: reply[2] === "c" ? "concurrency" : "rate" };
  }

  async release(destinationId: string, lease: string): Promise<void> {
    await this.fcall("release", this.prefix, destinationId, lease);
  }

  async close(): Promise<void> {
    await endRedis(this.redis, { quit: true });
  }

  private async fcall(name: (typeof LIMITS_FUNCTIONS)[number], ...args: (string | number)[]): Promise<unknown> {
    try {
      return await this.redis.call("FCALL", `${LIMITS_LIBRARY}_${name}`, 0, ...args);
    } catch (err) {
      // A Redis restarted without persistence (or a promoted replica) may lack the library.
      if (!/function not found/i.test((err as Error).message)) throw err;
      await loadLibrary(this.redis);
      return this.redis.call("FCALL", `${LIMITS_LIBRARY}_${name}`, 0, ...args);
    }
  }
}

/** The library's source: each .lua file beside this module (the build copies them) as one function. */
export async function limitsLibrary(): Promise<string> {
  const bodies = await Promise.all(LIMITS_FUNCTIONS.map((name) => readFile(new URL(`./redis/${name}.lua`, import.meta.url), "utf8")));
  return [
    `#!lua name=${LIMITS_LIBRARY}`,
    ...LIMITS_FUNCTIONS.map((name, i) => `redis.register_function("${LIMITS_LIBRARY}_${name}", function(_, ARGV)\n${bodies[i]}\nend)`),
  ].join("\n");
}

async function loadLibrary(redis: Redis): Promise<void> {
  await redis.call("FUNCTION", "LOAD", "REPLACE", await limitsLibrary());
}
