/**
 * Where Ferry's Redis is, and how every connection to it is opened (issue 15): the queue, its
 * pub/sub subscriber and the destination limit store all come through here, so each follows a
 * failover the same way.
 *
 * Two targets. Direct: FERRY_REDIS_URL names the server. Sentinel: FERRY_REDIS_SENTINELS names
 * the sentinels, which ioredis asks for the primary of FERRY_REDIS_MASTER_NAME on every
 * (re)connect; FERRY_REDIS_URL then gives only the user, password, db and TLS. After a
 * failover the connection to the old primary drops (or it is demoted and answers READONLY);
 * ioredis reconnects, asks the sentinels again and reaches the new primary. Commands sent
 * meanwhile fail (no offline queue): the queue turns them into QueueUnavailableError, which
 * ingest answers as 503 `queue_unavailable` with Retry-After and the worker retries.
 *
 * ioredis can give up on a connection for good in the middle of a failover (see
 * `keepReconnecting`); every connection opened here is started again when that happens, and
 * ends only through `endRedis`.
 */
import { Redis, type RedisOptions } from "ioredis";
import type { Config } from "./config.js";
import { redact } from "./backend-error.js";

export interface RedisTarget {
  /** FERRY_REDIS_URL: the server (direct), or only its credentials, db and TLS (sentinels). */
  url: string;
  /** FERRY_REDIS_SENTINELS; empty for a direct connection. */
  sentinels: readonly { host: string; port: number }[];
  /** FERRY_REDIS_MASTER_NAME. */
  masterName: string;
  /** FERRY_REDIS_SENTINEL_PASSWORD. */
  sentinelPassword?: string | undefined;
}

/** The config's Redis, or undefined when the queue is SQLite. */
export function redisTarget(config: Pick<Config, "redis_url" | "redisSentinels" | "redis_master_name" | "redis_sentinel_password">): RedisTarget | undefined {
  if (config.redis_url === undefined) return undefined;
  return {
    url: config.redis_url,
    sentinels: config.redisSentinels ?? [],
    masterName: config.redis_master_name ?? "ferry",
    sentinelPassword: config.redis_sentinel_password,
  };
}

/** A plain URL is a direct target (tests, benches, tools). */
export function asTarget(target: RedisTarget | string): RedisTarget {
  return typeof target === "string" ? { url: target, sentinels: [], masterName: "ferry" } : target;
}

export const viaSentinels = (target: RedisTarget): boolean => target.sentinels.length > 0;

/** The setting an operator should look at when this target cannot be used. */
export function targetSetting(target: RedisTarget): string {
  return viaSentinels(target) ? "FERRY_REDIS_SENTINELS" : "FERRY_REDIS_URL";
}

/** The target in words, for logs and start-up errors; never a password. */
export function describeTarget(target: RedisTarget): string {
  if (!viaSentinels(target)) return redact(target.url);
  const sentinels = target.sentinels.map((s) => (s.host.includes(":") ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`)).join(",");
  return `master "${target.masterName}" of sentinels ${sentinels} (credentials from ${redact(target.url)})`;
}

/**
 * A client for `target` with `options` (lazyConnect, timeouts, retry strategy: the caller's).
 * With sentinels, `retryStrategy` also paces the rounds of asking the sentinels while none
 * answers, and `sentinelErrors` collects why each sentinel failed, for the start-up message.
 */
export function openRedis(target: RedisTarget, options: RedisOptions, sentinelErrors?: string[]): Redis {
  const common: RedisOptions = {
    ...options,
    // A primary demoted by a failover keeps the connection and answers writes with READONLY:
    // drop it, so the reconnect asks the sentinels for the new primary. The command itself
    // fails (1, not 2: never re-sent behind the caller's back; it may be answered 503).
    reconnectOnError: (err) => (/^READONLY/.test(err.message) ? 1 : false),
  };
  if (!viaSentinels(target)) return keepReconnecting(new Redis(target.url, common));
  const url = new URL(target.url);
  const tls = url.protocol === "rediss:";
  const db = Number(url.pathname.replace(/^\//, "") || "0");
  const redis = new Redis({
    ...common,
    sentinels: target.sentinels.map((s) => ({ host: s.host, port: s.port })),
    name: target.masterName,
    ...(target.sentinelPassword !== undefined ? { sentinelPassword: target.sentinelPassword } : {}),
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    db: Number.isInteger(db) ? db : 0,
    // rediss:// — TLS to the data servers; the sentinels are asked in plain TCP, as
    // sentinel.conf's `port` serves (a sentinel with `tls-port` needs sentinelTLS too).
    ...(tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
    // Subscribe to the sentinels' +switch-master: reconnect at once on a failover rather than
    // when the old primary's connection times out.
    failoverDetector: true,
    sentinelRetryStrategy: (times: number) => {
      const retry = options.retryStrategy?.(times);
      return typeof retry === "number" ? retry : null;
    },
  });
  if (sentinelErrors) redis.on("sentinelError", (err: Error) => sentinelErrors.push(err.message));
  return keepReconnecting(redis);
}

/** Set on a connection Ferry ends on purpose: `keepReconnecting` leaves it ended. */
const ENDED = Symbol("ferry.redis.ended");
/** How long an ended connection waits before it is started again. */
const RESTART_DELAY_MS = 250;

/**
 * Starts `redis` again whenever ioredis ends it without being asked to. ioredis ends a
 * connection for good (status "end": every command fails "Connection is closed.", no retry
 * follows) when a reconnect's connector gives up, and with sentinels that happens in a race:
 * the old primary dies, the reconnect asks the sentinels, and the +switch-master of the same
 * failover (the failover detector of the connection that died) cancels that reconnect while
 * it waits for their answer. The worker then stalled for good with its postbacks leased, and
 * the api answered 503 for ever: the failover test saw it once in nine runs under load.
 * Connections made with `duplicate()` need this too (the queue's subscriber).
 */
export function keepReconnecting(redis: Redis): Redis {
  redis.on("end", () => {
    const restart = () => {
      if ((redis as unknown as Record<symbol, unknown>)[ENDED] || redis.status !== "end") return;
      redis.connect().catch(() => setTimeout(restart, RESTART_DELAY_MS));
    };
    setTimeout(restart, RESTART_DELAY_MS);
  });
  return redis;
}

/**
 * Ends a connection opened by `openRedis` for good (shutdown, a failed start-up): after an
 * optional QUIT, disconnect() also ends the sentinel connector's +switch-master subscriptions,
 * which quit() leaves running.
 */
export async function endRedis(redis: Redis, options: { quit?: boolean } = {}): Promise<void> {
  (redis as unknown as Record<symbol, unknown>)[ENDED] = true;
  if (options.quit) await redis.quit().catch(() => {});
  redis.disconnect();
}

/**
 * Why a connection could not be made, in what the operator should check. `sentinelErrors`
 * (from openRedis) say what each sentinel answered: none reachable, or none knowing the name.
 */
export function describeConnectError(target: RedisTarget, message: string, sentinelErrors: readonly string[] = []): string {
  if (viaSentinels(target) && /All sentinels are unreachable/i.test(message)) {
    // ioredis says "No such master" (Redis 7) or "invalid reply: null" (older) for an unknown name.
    const unknownName = sentinelErrors.some((e) => /No such master|successfully, but got an invalid reply/i.test(e));
    if (unknownName) {
      return `the sentinels answer but know no primary named "${target.masterName}"; check FERRY_REDIS_MASTER_NAME against \`sentinel monitor <name>\` in sentinel.conf`;
    }
    const last = sentinelErrors[sentinelErrors.length - 1];
    const why = last && /WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(last)
      ? "a sentinel refuses the password; check FERRY_REDIS_SENTINEL_PASSWORD"
      : "no sentinel could be reached; check the host:port list and that the sentinels run" + (last ? ` (last: ${last.replace(/^failed to connect to sentinel /, "")})` : "");
    return why;
  }
  if (/WRONGPASS|invalid password|invalid username-password/i.test(message)) return "the user name or password is wrong";
  if (/NOAUTH/i.test(message)) return "Redis asks for a password; put it in the URL (redis://:password@host:port)";
  if (/ECONNREFUSED/i.test(message)) return "nothing is listening there (connection refused)";
  if (/ENOTFOUND|EAI_AGAIN/i.test(message)) return "the host name does not resolve";
  if (/ETIMEDOUT|timed? ?out/i.test(message)) return "the connection timed out";
  return message;
}
