/**
 * Redis (FERRY_REDIS_URL): reached with its credentials (through the sentinels when
 * FERRY_REDIS_SENTINELS is set), its version, what it does with Ferry's data (persistence,
 * eviction), Ferry's function libraries, replication, and its clock. Everything is read with
 * INFO, FUNCTION LIST and TIME: the production ACL user may not have CONFIG.
 */
import { Redis, type RedisOptions } from "ioredis";
import type { Config } from "../config.js";
import { redact } from "../backend-error.js";
import { LIBRARY_NAME } from "../queue/redis-functions.js";
import { LIMITS_LIBRARY } from "../limits/redis.js";
import { CHECK_TIMEOUT_MS, fail, infoFields, ok, skip, warn, within, type Report } from "./check.js";
import { skewFinding } from "./clock.js";

/** Ferry's queue runs as Redis functions, which came with Redis 7. */
const MIN_MAJOR = 7;

const DEPENDENT = ["redis.version", "redis.persistence", "redis.maxmemory_policy", "redis.functions", "redis.replication", "clock.redis"];

/** Options for a connection that gives up at once: doctor reports, it does not wait. */
function quick(): RedisOptions {
  return {
    lazyConnect: true,
    connectTimeout: CHECK_TIMEOUT_MS,
    commandTimeout: CHECK_TIMEOUT_MS,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    enableReadyCheck: false,
  };
}

export async function checkRedis(config: Config, report: Report): Promise<void> {
  const url = config.redis_url;
  if (!url) {
    report(skip("redis", "not used: FERRY_REDIS_URL is not set, the queue is the SQLite file"));
    return;
  }
  let target: { host: string; port: number } | undefined;
  if (config.redisSentinels.length > 0) {
    target = await askSentinels(config, report);
    if (!target) {
      report(skip("redis", "not checked: no sentinel named a primary"));
      for (const name of DEPENDENT) report(skip(name, "not checked: no primary found"));
      return;
    }
  }
  const where = target ? `the primary ${target.host}:${target.port} (from the sentinels)` : redact(url);
  const redis = target ? new Redis({ ...credentials(url), ...target, ...quick() }) : new Redis(url, quick());
  let lastError: Error | undefined;
  redis.on("error", (err: Error) => (lastError = err));
  try {
    try {
      await within(`connecting to Redis at ${where}`, redis.connect());
      await within(`PING to Redis at ${where}`, redis.ping());
    } catch (err) {
      const { message, fix } = describeConnectError(lastError ?? (err as Error), err as Error);
      report(fail("redis", `FERRY_REDIS_URL: cannot use Redis at ${where}: ${message}`, fix));
      for (const name of DEPENDENT) report(skip(name, "not checked: Redis cannot be reached"));
      return;
    }
    report(ok("redis", `reached Redis at ${where}${new URL(url).username ? ` as user ${new URL(url).username}` : ""}`));
    let info: Map<string, string>;
    try {
      info = infoFields(await within("INFO", redis.info()));
    } catch (err) {
      const e = err as Error;
      const fix = /NOPERM/.test(e.message) ? "allow INFO to Ferry's ACL user (+info)" : "check Redis's log";
      for (const name of ["redis.version", "redis.persistence", "redis.maxmemory_policy", "redis.replication"]) report(fail(name, `cannot read INFO: ${e.message}`, fix));
      info = new Map();
    }
    if (info.size > 0) checkInfo(config, info, report, !!target);
    await checkFunctions(redis, report);
    await checkClock(redis, config, report);
  } finally {
    redis.disconnect();
  }
}

function checkInfo(config: Config, info: Map<string, string>, report: Report, viaSentinels: boolean): void {
  const version = info.get("redis_version") ?? "unknown";
  const major = Number(version.split(".")[0]);
  if (major >= MIN_MAJOR) report(ok("redis.version", `Redis ${version}`));
  else report(fail("redis.version", `Redis ${version}: Ferry's queue runs as Redis functions, which need Redis ${MIN_MAJOR} or later`, `upgrade Redis to ${MIN_MAJOR} or later`));

  const aof = info.get("aof_enabled") === "1";
  const lastSave = Number(info.get("rdb_last_save_time") ?? 0);
  if (aof && info.get("aof_last_write_status") === "err") {
    report(fail("redis.persistence", "appendonly is on, but Redis's last write to its AOF failed: it is refusing writes", "look at Redis's log (disk full? permissions?)"));
  } else if (aof) {
    report(ok("redis.persistence", `appendonly yes (appendfsync per redis.conf): what Ferry acknowledged survives a Redis restart`));
  } else {
    const since = lastSave > 0 ? `; its last snapshot was ${Math.round(Date.now() / 1000 - lastSave)} s ago` : "";
    report(warn("redis.persistence", `appendonly is off: postbacks queued since the last snapshot (if it takes any) are lost when Redis restarts${since}`, "set appendonly yes (and appendfsync everysec or always) in redis.conf"));
  }

  const policy = info.get("maxmemory_policy");
  const maxmemory = Number(info.get("maxmemory") ?? 0);
  const limit = maxmemory > 0 ? `maxmemory ${Math.round(maxmemory / 1024 ** 2)} MiB` : "no maxmemory";
  if (policy === undefined) report(warn("redis.maxmemory_policy", "INFO memory does not show maxmemory_policy", "check by hand that maxmemory-policy is noeviction"));
  else if (policy === "noeviction") report(ok("redis.maxmemory_policy", `maxmemory-policy noeviction, ${limit}: a full Redis refuses writes (ingest answers 503), it never drops queued postbacks`));
  else report(fail("redis.maxmemory_policy", `maxmemory-policy ${policy}, ${limit}: Redis would drop queued postbacks without a word when its memory is full; Ferry refuses to start on it`, "set maxmemory-policy noeviction in redis.conf (a Redis of Ferry's own, not a shared cache)"));

  const role = info.get("role");
  const replicas = Number(info.get("connected_slaves") ?? 0);
  const wanted = config.redis_wait_replicas;
  if (role !== "master") {
    report(fail("redis.replication", `Redis answers role ${role}${viaSentinels ? ", though the sentinels name it the primary (a failover in progress?)" : ""}: a replica refuses Ferry's writes`, viaSentinels ? "run doctor again in a minute; check the sentinels' logs" : "point FERRY_REDIS_URL at the primary, or use FERRY_REDIS_SENTINELS"));
  } else if (replicas < wanted) {
    report(fail("redis.replication", `primary with ${replicas} connected replica${replicas === 1 ? "" : "s"}, but FERRY_REDIS_WAIT_REPLICAS=${wanted}: every ingest would wait FERRY_REDIS_WAIT_TIMEOUT_MS and answer 503`, "start the missing replicas, or lower FERRY_REDIS_WAIT_REPLICAS"));
  } else if (replicas === 0) {
    report(ok("redis.replication", "primary with no replica: losing this Redis host loses the queue unless its AOF survives"));
  } else {
    report(ok("redis.replication", `primary with ${replicas} connected replica${replicas === 1 ? "" : "s"}${wanted > 0 ? `; ingest waits for ${wanted} (FERRY_REDIS_WAIT_REPLICAS)` : "; ingest does not wait for them (FERRY_REDIS_WAIT_REPLICAS=0): a failover may lose the last acknowledged postbacks"}`));
  }
}

async function checkFunctions(redis: Redis, report: Report): Promise<void> {
  const missing: string[] = [];
  try {
    for (const library of [LIBRARY_NAME, LIMITS_LIBRARY]) {
      // LIBRARYNAME is a pattern; compare the names exactly.
      const reply = (await within("FUNCTION LIST", redis.call("FUNCTION", "LIST", "LIBRARYNAME", library))) as unknown[][];
      const found = reply.some((lib) => Array.isArray(lib) && lib[lib.indexOf("library_name") + 1] === library);
      if (!found) missing.push(library);
    }
  } catch (err) {
    const e = err as Error;
    report(warn("redis.functions", `cannot list Redis functions: ${e.message}`, /NOPERM/.test(e.message) ? "allow FUNCTION to Ferry's ACL user (+function)" : "check Redis's log"));
    return;
  }
  if (missing.length === 0) report(ok("redis.functions", `Ferry's function libraries ${LIBRARY_NAME} and ${LIMITS_LIBRARY} are loaded`));
  else report(warn("redis.functions", `${missing.join(" and ")} not loaded yet (normal before the first start; a Redis restart without AOF loses them too)`, "nothing, if Ferry has not started on this Redis yet: ferry api and ferry worker load them when they start"));
}

async function checkClock(redis: Redis, config: Config, report: Report): Promise<void> {
  try {
    const sentAt = Date.now();
    const [seconds, micros] = (await within("TIME", redis.time())) as [string | number, string | number];
    const receivedAt = Date.now();
    report(skewFinding("clock.redis", "Redis", Number(seconds) * 1000 + Number(micros) / 1000, sentAt, receivedAt, config));
  } catch (err) {
    report(warn("clock.redis", `cannot read Redis's clock: ${(err as Error).message}`, "allow TIME to Ferry's ACL user (+time)"));
  }
}

/**
 * Asks each sentinel which server is the primary (SENTINEL GET-MASTER-ADDR-BY-NAME), on a raw
 * connection of its own. The answer most of them give wins; none is a failure.
 */
async function askSentinels(config: Config, report: Report): Promise<{ host: string; port: number } | undefined> {
  const name = config.redis_master_name;
  const answers = await Promise.all(
    config.redisSentinels.map(async ({ host, port }) => {
      const sentinel = new Redis({ host, port, ...(config.redis_sentinel_password ? { password: config.redis_sentinel_password } : {}), ...quick() });
      let lastError: Error | undefined;
      sentinel.on("error", (err: Error) => (lastError = err));
      try {
        await within(`connecting to the sentinel ${host}:${port}`, sentinel.connect());
        const reply = (await within(`SENTINEL GET-MASTER-ADDR-BY-NAME at ${host}:${port}`, sentinel.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name))) as [string, string] | null;
        return { at: `${host}:${port}`, primary: reply ? `${reply[0]}:${reply[1]}` : undefined, error: reply ? undefined : `does not monitor a primary named "${name}"` };
      } catch (err) {
        return { at: `${host}:${port}`, primary: undefined, error: describeConnectError(lastError ?? (err as Error), err as Error).message };
      } finally {
        sentinel.disconnect();
      }
    }),
  );
  const votes = new Map<string, number>();
  for (const a of answers) if (a.primary) votes.set(a.primary, (votes.get(a.primary) ?? 0) + 1);
  const failed = answers.filter((a) => !a.primary);
  const problems = failed.map((a) => `${a.at} ${a.error}`).join("; ");
  const best = [...votes].sort((a, b) => b[1] - a[1])[0];
  if (!best) {
    report(fail("redis.sentinels", `no sentinel names the primary "${name}": ${problems}`, "check FERRY_REDIS_SENTINELS, FERRY_REDIS_MASTER_NAME (sentinel monitor <name>) and FERRY_REDIS_SENTINEL_PASSWORD"));
    return undefined;
  }
  const [primary, count] = best;
  const total = answers.length;
  if (votes.size > 1) {
    report(warn("redis.sentinels", `the sentinels disagree on the primary of "${name}": ${[...votes].map(([p, n]) => `${n} say ${p}`).join(", ")}`, "a failover may be in progress; run doctor again in a minute, then check the sentinels' logs"));
  } else if (failed.length > 0) {
    report(warn("redis.sentinels", `${count} of ${total} sentinels name ${primary} the primary of "${name}"; ${problems}`, "bring the other sentinels back: a failover needs a majority of them"));
  } else {
    report(ok("redis.sentinels", `all ${total} sentinels name ${primary} the primary of "${name}"`));
  }
  const i = primary.lastIndexOf(":");
  return { host: primary.slice(0, i), port: Number(primary.slice(i + 1)) };
}

/** What FERRY_REDIS_URL gives besides the host when sentinels pick the server: user, password, db, TLS. */
function credentials(url: string): RedisOptions {
  const u = new URL(url);
  const db = Number(u.pathname.slice(1) || 0);
  return {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(Number.isInteger(db) ? { db } : {}),
    ...(u.protocol === "rediss:" ? { tls: {} } : {}),
  };
}

/** The operator's reading of a failed connection, without a password in it. */
export function describeConnectError(first: Error, last: Error): { message: string; fix: string } {
  const text = `${first.message} ${last.message}`;
  if (/WRONGPASS|invalid password|invalid username-password/i.test(text)) return { message: "the user name or password is wrong (WRONGPASS)", fix: "correct the user and password in FERRY_REDIS_URL (redis://user:password@host:port/0)" };
  if (/NOAUTH/i.test(text)) return { message: "Redis asks for a password and none was given (NOAUTH)", fix: "put it in FERRY_REDIS_URL: redis://:password@host:port/0" };
  if (/NOPERM/i.test(text)) return { message: "the user lacks a permission Ferry needs (NOPERM)", fix: "grant Ferry's ACL user the commands in deploy's Redis ACL (PING, INFO, FUNCTION, FCALL, TIME, …)" };
  if (/ECONNREFUSED/i.test(text)) return { message: "nothing is listening there (connection refused)", fix: "start Redis, or correct the host and port" };
  if (/ENOTFOUND|EAI_AGAIN/i.test(text)) return { message: "the host name does not resolve", fix: "correct the host name, or use an IP address" };
  if (/ETIMEDOUT|timed? ?out|no answer/i.test(text)) return { message: `no answer within ${CHECK_TIMEOUT_MS} ms (timed out)`, fix: "check that Redis runs and that a firewall lets this host reach its port" };
  if (/ECONNRESET|closed/i.test(text)) return { message: `the connection was closed (${last.message})`, fix: "check that this is a Redis port, and whether it requires TLS (rediss://)" };
  return { message: last.message, fix: "check Redis's log" };
}
