/**
 * The Redis queue: for many `ferry api` and `ferry worker` processes on several machines.
 * Every state change is one Lua function (atomic on the server; Redis 7 or later), one file
 * each in src/queue/redis/ headed by its arguments and replies, loaded as one library by
 * redis-functions.ts; redis-codec.ts packs their arguments and reads their replies.
 * docs/architecture.md ("The Redis queue") lists them too. Shaped for few bytes on the wire
 * (the goal: at most 3× the data object's size per delivered postback):
 *
 * - An ingest request is one batch (a fan-out several, sent in one call). Its endpoint and its
 *   postback ids travel once, as the ids' common prefix and each id's short suffix; each data
 *   object travels once to Redis and once to the worker that reserves it.
 * - Entries are named by a short member, `<batch><index>` each in length-prefixed base 36, so they
 *   sort in insertion order and settle names them in a few bytes instead of a 29-byte id.
 * - A worker fetches a batch's record (endpoint id, createdAt, ids) once and keeps it; an
 *   endpoint's JSON once per endpoint.
 *
 * Lanes (issue 14, fairness among accounts): each account's entries have a due index of their
 * own, so one account's million queued postbacks sit in its lane, not in front of another's
 * fresh ones. reserve takes the lanes with something due least recently served first and shares
 * its `max` evenly among them (reserve.lua), in the one function call it always was: a lane
 * index walked round robin rather than one due index scanned past a backlog, which no window
 * can see beyond. P:lanes (lane → its first due time) answers "when is anything due next"
 * (waitForWork, oldestDueAt) exactly; P:turn (lane → that, or when it was last served, if
 * later) orders the due lanes, so a lane served just now goes behind those that were not, and
 * with more due lanes than `max`, the next reservation serves the rest. Entries without an
 * account have P:q as their lane, which is where ferry_v4 kept everything: a queue it wrote is
 * delivered, as that lane, with no migration.
 *
 * Lines (issue 14, ordering): entries with an order key are kept in P:o:<key>, in enqueue
 * order; only the head is in its lane (or leased, or held), so the rest are never due. Settling
 * the head done puts the next one in its lane at its own due time, its batch's createdAt: due
 * at once, and ahead of its account's later entries, so a line does not queue again behind its
 * own account's backlog at every step. Other lines and unordered entries are not touched.
 *
 * Keys, under the prefix P (FERRY_REDIS_PREFIX, default "ferry"):
 *   P:q   zset  member → due time in ms (while reserved: when the lease ends), for entries
 *               without an account (and all a ferry_v4 queued); not held ones
 *   P:q:<accountId>  zset  the same, for an account's entries: its lane
 *   P:lanes zset accountId → the first score of its lane (absent when the lane is empty)
 *   P:turn zset  accountId → that, or when reserve last served the lane if later
 *   P:ls  hash  lane ("" for P:q) → when reserve last served it
 *   P:bl  hash  batch → its account, then "\n" if it has entries in lines (neither: no field)
 *   P:o:<orderKey>  list  the members of a line, oldest first; the head is the first
 *   P:k   hash  member → its order key (ordered entries only)
 *   P:ol  set   order keys of lines with entries behind their head (listings)
 *   P:d   hash  member → the data object's JSON
 *   P:m   hash  member → "attempts,lease,postbackId"; the lease is odd while reserved
 *   P:h:<destinationId>  set  members held while that destination is disabled (out of their lane)
 *   P:hd  set   destination ids with held entries (each has a non-empty P:h:<id>)
 *   P:i   hash  postbackId → member (find, and refusing a repeated id)
 *   P:b   hash  batch → "createdAt\nendpointId\nidPrefix\nsuffix\nsuffix…"
 *   P:r   hash  batch → entries of the batch not yet done
 *   P:e:<endpointId>  hash  j → endpoint JSON, n → batches using it (expires a day after n is 0)
 *   P:seq string  the last batch number
 *   P:w:<postbackId>  string  an enqueue call withdrawn after its answer was lost (expires)
 *   P:wake channel  published when an enqueue, unhold or reschedule makes work due sooner
 *
 * Key names are built inside the functions from the prefix, so this runs on a single Redis
 * (with replicas or Sentinel), not on Redis Cluster.
 */
import { Redis, ReplyError, type RedisOptions } from "ioredis";
import { asTarget, describeConnectError, describeTarget, endRedis, keepReconnecting, openRedis, targetSetting, type RedisTarget } from "../redis-connection.js";
import type { Logger } from "pino";
import type { Endpoint } from "../core/types.js";
import { BackendError } from "../backend-error.js";
import { DuplicateIdError, QueueUnavailableError, asUnavailable } from "../core/port-errors.js";
import { BoundedMap } from "../core/bounded-map.js";
import { batchList, QUEUE_SCAN_LIMIT, type QueuedFilter, type EnqueueBatch, type Queue, type QueuedPostback, type QueueStats, type Reservation, type Settlement } from "./port.js";
import { functionName, librarySource, type FunctionName } from "./redis-functions.js";
import {
  batchOf, indexOf, decodeEndpoint, enqueueArgs, parseBatchRecord, parseCount, parseEnqueueReply, parseFindReply, parseMembers, parseReserveReply, parseSettleReserveReply, parseStatsReply, settleArgs, type ReserveReply,
} from "./redis-codec.js";

/** A batch as a worker keeps it: what every entry of one ingest request shares. */
interface BatchInfo {
  createdAt: number;
  endpoint: Endpoint;
  ids: string[];
}

export interface RedisQueueOptions {
  prefix?: string;
  logger?: Logger;
  /** Longest a command may take before it fails (and ingest answers 503). */
  commandTimeoutMs?: number;
  /**
   * FERRY_REDIS_WAIT_REPLICAS: an enqueue (and a withdraw) returns only once this many replicas
   * have it (`WAIT`); fewer within `waitTimeoutMs` is a QueueUnavailableError with maybeApplied.
   */
  waitReplicas?: number;
  /** FERRY_REDIS_WAIT_TIMEOUT_MS. */
  waitTimeoutMs?: number;
  /** Bench only: one WAIT per enqueue instead of one for all enqueues answered meanwhile. */
  waitEach?: boolean;
}

/** Batches and endpoints a worker remembers; more are fetched again when needed. */
const CACHE_LIMIT = 10_000;

export class RedisQueue implements Queue {
  private readonly redis: Redis;
  private readonly prefix: string;
  private subscriber: Redis | undefined;
  private readonly batches = new BoundedMap<string, BatchInfo>(CACHE_LIMIT);
  private readonly endpoints = new BoundedMap<string, Endpoint>(CACHE_LIMIT);
  /** Endpoints this process has sent to Redis: later enqueues leave their JSON out. */
  private readonly sentEndpoints = new BoundedMap<string, true>(CACHE_LIMIT);
  private readonly waiters = new Set<() => void>();
  private closed = false;
  private readonly wait: { replicas: number; timeoutMs: number; each: boolean };
  /** Writes sent on this connection that need WAIT, counted; the latest WAIT covers those up to `covers`. */
  private writesSent = 0;
  private lastWait: { covers: number; acked: Promise<number> } | undefined;

  private constructor(redis: Redis, prefix: string, options: RedisQueueOptions) {
    this.redis = redis;
    this.prefix = prefix;
    this.wait = { replicas: options.waitReplicas ?? 0, timeoutMs: options.waitTimeoutMs ?? 1_000, each: options.waitEach ?? false };
  }

  /**
   * Connects (directly, or to the primary the sentinels name) and checks the password; a server
   * that cannot be reached or refuses the credentials fails start-up with a BackendError naming
   * FERRY_REDIS_URL, or FERRY_REDIS_SENTINELS when the sentinels are at fault.
   */
  static async connect(to: RedisTarget | string, options: RedisQueueOptions = {}): Promise<RedisQueue> {
    const target = asTarget(to);
    let starting = true;
    const sentinelErrors: string[] = [];
    const redis = openRedis(target, {
      ...connectionOptions(options),
      lazyConnect: true,
      // At start-up one failure is final: the operator hears of it at once. After that,
      // reconnect for ever, backing off up to 2 s; callers get errors meanwhile.
      retryStrategy: (times) => (starting ? null : Math.min(times * 100, 2000)),
    }, sentinelErrors);
    // ioredis reports connection trouble as events as well as rejections; the rejections
    // are handled where the command was sent, so the events only need to be kept quiet.
    let lastError: Error | undefined;
    redis.on("error", (err: Error) => {
      lastError = err;
    });
    const where = `${targetSetting(target)}: cannot use Redis at ${describeTarget(target)}`;
    try {
      await redis.connect();
      await redis.ping();
    } catch (err) {
      void endRedis(redis);
      const reason = (lastError ?? (err as Error)).message;
      throw new BackendError(`${where}: ${describeConnectError(target, reason, sentinelErrors)}`, { cause: err });
    }
    starting = false;
    try {
      await redis.call("FUNCTION", "LOAD", "REPLACE", await librarySource());
    } catch (err) {
      void endRedis(redis);
      const reason = /unknown command/i.test((err as Error).message)
        ? "it is older than Redis 7, and Ferry's queue runs as Redis functions"
        : `cannot load Ferry's functions: ${(err as Error).message}`;
      throw new BackendError(`${where}: ${reason}`, { cause: err });
    }
    const queue = new RedisQueue(redis, options.prefix ?? "ferry", options);
    await queue.checkServerSettings(target, options.logger);
    return queue;
  }

  /**
   * What Redis does with what it is given, read from INFO (a production ACL user has no CONFIG).
   * A maxmemory-policy other than noeviction lets Redis drop queued postbacks, silently, when it
   * is full: start-up refuses it (the connection is closed first). Nothing on disk loses them on
   * a restart: that is only warned, as a test or a cache-only Redis may be meant.
   */
  private async checkServerSettings(target: RedisTarget, logger: Logger | undefined): Promise<void> {
    const infoFields = (info: string) => new Map(info.split("\r\n").filter((l) => /^\w+:/.test(l)).map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1)] as const));
    let memory: Map<string, string>;
    let persistence: Map<string, string>;
    try {
      memory = infoFields(await this.redis.info("memory"));
      persistence = infoFields(await this.redis.info("persistence"));
    } catch (err) {
      logger?.warn({ err }, "cannot read Redis's INFO: check yourself that it has maxmemory-policy noeviction and appendonly yes");
      return;
    }
    const policy = memory.get("maxmemory_policy");
    if (policy !== undefined && policy !== "noeviction") {
      void endRedis(this.redis);
      throw new BackendError(
        `${targetSetting(target)}: Redis at ${describeTarget(target)} evicts keys when its memory is full (maxmemory-policy ${policy}), ` +
          "which would drop queued postbacks without a word: set maxmemory-policy noeviction in its redis.conf (or a Redis of Ferry's own)",
      );
    }
    if (persistence.get("aof_enabled") !== "1") {
      logger?.warn("Redis has appendonly off: postbacks queued since its last snapshot (if it takes any) are lost if Redis restarts. Set appendonly yes.");
    }
  }

  async enqueue(input: EnqueueBatch | readonly EnqueueBatch[]): Promise<void> {
    // Several batches go in one function call: atomic on the server, one round trip.
    const batches = batchList(input).filter((b) => b.postbacks.length > 0);
    if (batches.length === 0) return;
    // Endpoint ids are digests of the endpoint, so one sent before is the same endpoint: leave
    // its JSON out, unless Redis says it has gone (expired, or Redis lost it).
    const sent = { n: 0 };
    const send = async (sendJson: (endpointId: string) => boolean) =>
      parseEnqueueReply(await this.countedFcall(sent, "enqueue", this.prefix, ...enqueueArgs(batches, sendJson)));
    let reply = await send((id) => !this.sentEndpoints.has(id));
    if (reply.kind === "endpoint-missing") reply = await send(() => true);
    if (reply.kind === "duplicate") throw new DuplicateIdError("queue", reply.id, `postback ${reply.id} is already queued or repeats in the batch; nothing was queued`);
    if (reply.kind === "endpoint-missing") throw new Error("Redis refused the batches' endpoints though their JSON was sent");
    for (const b of batches) if (!this.sentEndpoints.has(b.endpoint.id)) this.sentEndpoints.set(b.endpoint.id, true);
    await this.replicated(sent.n, "postbacks");
  }

  /**
   * With FERRY_REDIS_WAIT_REPLICAS: returns once that many replicas have every write this
   * connection sent up to number `sent`, so a failover to one of them keeps it. Replication is
   * asynchronous: without this, an ingest answered 202 may be lost if the primary dies before
   * its replica got it. `WAIT` counts the replicas that acknowledged this connection's latest
   * write, so it is sent on the same connection, after the write.
   *
   * Coalesced: a WAIT sent after write n covers every write up to n, so concurrent enqueues
   * whose calls went out before it share it rather than each sending one (WAIT blocks the
   * connection while it waits: one per enqueue would put every other command behind them).
   *
   * Fewer replicas in time, or a lost connection: the write is on the primary but may not
   * survive a failover; a QueueUnavailableError with maybeApplied, which ingest answers 503
   * "may have been queued" and a retry with the same Idempotency-Key settles (withdraw).
   */
  private async replicated(sent: number, what: string): Promise<void> {
    const { replicas, timeoutMs } = this.wait;
    if (replicas <= 0) return;
    // Sent in the microtasks right after the write's reply, so on the connection that carried
    // the write: a reconnect (to a new primary, whose WAIT would know nothing of it) takes I/O.
    let wait = this.lastWait;
    if (!wait || wait.covers < sent || this.wait.each) {
      const acked = this.redis.call("WAIT", replicas, timeoutMs) as Promise<number>;
      wait = { covers: this.writesSent, acked };
      this.lastWait = wait;
    }
    let acked: number;
    try {
      acked = Number(await wait.acked);
    } catch (err) {
      throw new QueueUnavailableError(`the Redis queue stored the ${what} on the primary but could not wait for ${replicas} replica(s): ${(err as Error).message}`, { cause: err, maybeApplied: true });
    }
    if (acked < replicas) {
      throw new QueueUnavailableError(
        `the Redis queue stored the ${what} on the primary, but ${acked} of ${replicas} replica(s) (FERRY_REDIS_WAIT_REPLICAS) had them within ${timeoutMs} ms: a failover could lose them`,
        { maybeApplied: true },
      );
    }
  }

  async reserve(max: number, leaseMs: number, now: number = Date.now()): Promise<Reservation[]> {
    if (max <= 0) return [];
    return this.reservations(parseReserveReply(await this.fcall("reserve", this.prefix, now, now + leaseMs, max)));
  }

  /**
   * settle then reserve as one function call (settle_reserve.lua): one round trip and one atomic
   * step per worker batch. Nothing to settle and max 0 sends nothing.
   */
  async settleAndReserve(settlements: Settlement[], max: number, leaseMs: number, now: number = Date.now()): Promise<{ settled: number; reserved: Reservation[] }> {
    if (settlements.length === 0) return { settled: 0, reserved: await this.reserve(max, leaseMs, now) };
    if (max <= 0) return { settled: await this.settle(settlements), reserved: [] };
    const reply = parseSettleReserveReply(await this.fcall("settle_reserve", this.prefix, now, now + leaseMs, max, ...settleArgs(settlements)));
    return { settled: reply.settled, reserved: await this.reservations(reply.reserved) };
  }

  /** A reserve reply's entries as reservations, with their batches' records (batchesFor). */
  private async reservations({ entries, batches: fingerprints }: ReserveReply): Promise<Reservation[]> {
    if (entries.length === 0) return [];
    const batches = await this.batchesFor(fingerprints);
    return entries.map((e) => {
      const info = batches.get(e.batch)!;
      const postbackId = info.ids[e.index];
      if (postbackId === undefined) throw new Error(`the queue's batch ${e.batch} has no entry ${e.index}`);
      return { postbackId, endpoint: info.endpoint, data: e.data, attempt: e.attempt, createdAt: info.createdAt, lease: e.lease };
    });
  }

  /**
   * The records of the batches a reservation names (batch → createdAt), from this process's
   * cache when the createdAt matches, else fetched with their endpoints. Collected in a map of
   * their own: the cache may drop any of them while others are added.
   */
  private async batchesFor(fingerprints: Map<string, string>): Promise<Map<string, BatchInfo>> {
    const out = new Map<string, BatchInfo>();
    const missing: string[] = [];
    for (const [batch, createdAt] of fingerprints) {
      const cached = this.batches.get(batch);
      if (cached && String(cached.createdAt) === createdAt) out.set(batch, cached);
      else missing.push(batch);
    }
    if (missing.length === 0) return out;
    // The reservation holds a lease on an entry of each batch, so no record can be gone.
    const records = (await this.command("read batches", () => this.redis.hmget(`${this.prefix}:b`, ...missing))).map((r, i) => {
      if (r === null) throw new Error(`the queue lost the record of batch ${missing[i]}`);
      return parseBatchRecord(r);
    });
    const unknown = [...new Set(records.map((r) => r.endpointId))].filter((id) => !this.endpoints.has(id));
    const fetched = new Map<string, Endpoint>();
    if (unknown.length > 0) {
      const pipeline = this.redis.pipeline();
      for (const id of unknown) pipeline.hget(`${this.prefix}:e:${id}`, "j");
      const replies = (await this.command("read endpoints", () => pipeline.exec()))!;
      unknown.forEach((id, i) => {
        const [err, json] = replies[i]!;
        if (err || typeof json !== "string") throw new Error(`the queue lost endpoint ${id}`);
        const endpoint = decodeEndpoint(id, json);
        fetched.set(id, endpoint);
        this.endpoints.set(id, endpoint);
      });
    }
    missing.forEach((batch, i) => {
      const { createdAt, endpointId, ids } = records[i]!;
      const endpoint = fetched.get(endpointId) ?? this.endpoints.get(endpointId)!;
      const info = { createdAt, endpoint, ids };
      out.set(batch, info);
      this.batches.set(batch, info);
    });
    return out;
  }

  async settle(settlements: Settlement[]): Promise<number> {
    if (settlements.length === 0) return 0;
    return parseCount("settle", await this.fcall("settle", this.prefix, ...settleArgs(settlements)));
  }

  waitForWork(maxWaitMs: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      this.waiters.add(done);
      timer = setTimeout(done, maxWaitMs);
      this.subscribe();
      // A scheduled entry falling due wakes no one: look when the next one is due.
      this.firstDue().then(
        (first) => {
          if (first === null) return;
          const wait = first - Date.now();
          if (wait <= 0) done();
          else if (wait < maxWaitMs) {
            clearTimeout(timer);
            // A timer may fire a millisecond before Date.now() reaches its mark: wait past it.
            timer = setTimeout(done, wait + 2);
          }
        },
        () => {}, // unreachable Redis: wait out maxWaitMs, the caller's reserve reports it
      );
    });
  }

  /** One connection per process listens for enqueues made by other processes. */
  private subscribe(): void {
    if (this.subscriber || this.closed) return;
    const options: Partial<RedisOptions> = { enableOfflineQueue: true, retryStrategy: (times: number) => Math.min(times * 100, 2000) };
    const sub = keepReconnecting(this.redis.duplicate(options));
    sub.on("error", () => {});
    sub.on("message", () => this.wake());
    sub.subscribe(`${this.prefix}:wake`).catch(() => {});
    this.subscriber = sub;
  }

  notify(): void {
    this.wake();
  }

  async unhold(destinationId: string): Promise<number> {
    const released = parseCount("unhold", await this.fcall("unhold", this.prefix, destinationId, Date.now()));
    // The function publishes for other processes; this one need not wait for the message.
    if (released > 0) this.wake();
    return released;
  }

  async heldDestinations(): Promise<string[]> {
    return this.command("list held destinations", () => this.redis.smembers(`${this.prefix}:hd`));
  }

  async reschedule(postbackId: string, at: number): Promise<boolean> {
    const done = parseCount("reschedule", await this.fcall("reschedule", this.prefix, postbackId, at, Date.now())) === 1;
    if (done) this.wake();
    return done;
  }

  /**
   * Redis keeps no index of entries by destination or id: a listing looks at the
   * QUEUE_SCAN_LIMIT newest entries of those due latest in each lane and last in each line
   * (latest.lua), or at most that many held ones, and resolves them through their batch records.
   */
  async listQueued(filter: QueuedFilter): Promise<QueuedPostback[]> {
    const members = filter.held ? await this.heldMembers(filter.destinationIds) : await this.latestDue();
    const wanted = filter.destinationIds === undefined ? undefined : new Set(filter.destinationIds);
    const ids = (await this.resolve(members))
      .filter((e) => (!wanted || wanted.has(e.endpoint.destinationId ?? "")) && (filter.beforeId === undefined || e.id < filter.beforeId))
      .map((e) => e.id)
      .sort()
      .reverse();
    const out: QueuedPostback[] = [];
    for (let i = 0; i < ids.length && out.length < filter.limit; i += filter.limit) {
      const found = await Promise.all(ids.slice(i, i + filter.limit).map((id) => this.find(id)));
      // An entry settled since it was listed is gone; one unheld since is no longer held.
      for (const f of found) if (f && f.held === filter.held && out.length < filter.limit) out.push(f);
    }
    return out;
  }

  async countQueued(destinationIds: readonly string[]): Promise<number> {
    if (destinationIds.length === 0) return 0;
    const pipeline = this.redis.pipeline();
    for (const d of destinationIds) pipeline.scard(`${this.prefix}:h:${d}`);
    const replies = (await this.command("count entries", () => pipeline.exec()))!;
    let held = 0;
    for (const [err, n] of replies) {
      if (err) throw asUnavailable("queue", err, "the Redis queue could not count entries");
      held += n as number;
    }
    const wanted = new Set(destinationIds);
    const due = (await this.resolve(await this.latestDue())).filter((e) => wanted.has(e.endpoint.destinationId ?? "")).length;
    return held + due;
  }

  private async latestDue(): Promise<string[]> {
    return parseMembers(await this.fcall("latest", this.prefix, QUEUE_SCAN_LIMIT));
  }

  private async heldMembers(destinationIds: readonly string[] | undefined): Promise<string[]> {
    const destinations = destinationIds ?? (await this.heldDestinations());
    const members: string[] = [];
    for (const d of destinations) {
      let cursor = "0";
      do {
        const [next, batch] = await this.command("list entries", () => this.redis.sscan(`${this.prefix}:h:${d}`, cursor, "COUNT", 1000));
        members.push(...batch);
        cursor = next;
      } while (cursor !== "0" && members.length < QUEUE_SCAN_LIMIT);
      if (members.length >= QUEUE_SCAN_LIMIT) break;
    }
    return members.slice(0, QUEUE_SCAN_LIMIT);
  }

  /** Members as postback ids with their endpoints, through their batch records (cached endpoints). */
  private async resolve(members: string[]): Promise<{ id: string; endpoint: Endpoint }[]> {
    if (members.length === 0) return [];
    const batches = [...new Set(members.map(batchOf))];
    const records = await this.command("read batches", () => this.redis.hmget(`${this.prefix}:b`, ...batches));
    const byBatch = new Map<string, { endpointId: string; ids: string[] }>();
    records.forEach((r, i) => {
      if (r !== null) byBatch.set(batches[i]!, parseBatchRecord(r)); // null: the batch finished meanwhile
    });
    const unknown = [...new Set([...byBatch.values()].map((r) => r.endpointId))].filter((id) => !this.endpoints.has(id));
    if (unknown.length > 0) {
      const pipeline = this.redis.pipeline();
      for (const id of unknown) pipeline.hget(`${this.prefix}:e:${id}`, "j");
      const replies = (await this.command("read endpoints", () => pipeline.exec()))!;
      unknown.forEach((id, i) => {
        const json = replies[i]![1];
        if (typeof json === "string") this.endpoints.set(id, decodeEndpoint(id, json));
      });
    }
    const out: { id: string; endpoint: Endpoint }[] = [];
    for (const m of members) {
      const record = byBatch.get(batchOf(m));
      const endpoint = record && this.endpoints.get(record.endpointId);
      const id = record?.ids[indexOf(m)];
      if (endpoint && id) out.push({ id, endpoint });
    }
    return out;
  }

  async find(postbackId: string): Promise<QueuedPostback | undefined> {
    return parseFindReply(postbackId, await this.fcall("find", this.prefix, postbackId));
  }

  async withdraw(firstPostbackId: string, ttlMs: number): Promise<"queued" | "withdrawn"> {
    const sent = { n: 0 };
    const queued = (await this.countedFcall(sent, "withdraw", this.prefix, firstPostbackId, Math.max(1, Math.round(ttlMs)))) === 1;
    if (this.wait.replicas > 0) {
      // Its answer is acted on as an enqueue's: "queued" is answered 202, so the postbacks must
      // be on the replicas; "withdrawn" lets the request run anew, so the marker that refuses
      // the old call must be. "queued" wrote nothing on this connection (the enqueue may have
      // come through another process's): a PUBLISH, which replicates, carries this
      // connection's offset past it, so the WAIT covers it. On P:wake, the one channel Ferry's
      // ACL user may publish to; a worker woken by it finds nothing new (withdraws are rare).
      if (queued) {
        sent.n = ++this.writesSent;
        await this.command("mark the replication offset", () => this.redis.publish(`${this.prefix}:wake`, "1"));
      }
      await this.replicated(sent.n, queued ? "postbacks" : "withdrawal");
    }
    return queued ? "queued" : "withdrawn";
  }

  async stats(now: number = Date.now()): Promise<QueueStats> {
    return parseStatsReply(await this.fcall("stats", this.prefix, now));
  }

  async oldestDueAt(now: number = Date.now()): Promise<number | null> {
    const first = await this.firstDue();
    return first !== null && first <= now ? first : null;
  }

  /**
   * The soonest due time (or lease end) in any lane: the first of P:lanes or of P:q, in one
   * round trip. Held entries and those behind a line's head are in no lane.
   */
  private async firstDue(): Promise<number | null> {
    const replies = await this.command("find the oldest due entry", () =>
      this.redis.multi().zrange(`${this.prefix}:lanes`, "0", "0", "WITHSCORES").zrange(`${this.prefix}:q`, "0", "0", "WITHSCORES").exec(),
    );
    let first: number | null = null;
    for (const [err, value] of replies!) {
      if (err) throw asUnavailable("queue", err, "the Redis queue could not find the oldest due entry");
      const score = Number((value as string[])[1]);
      if ((value as string[]).length >= 2 && Number.isFinite(score) && (first === null || score < first)) first = score;
    }
    return first;
  }

  private async fcall(name: FunctionName, ...args: (string | number)[]): Promise<unknown> {
    return this.countedFcall(undefined, name, ...args);
  }

  /**
   * FCALL; `sent.n` is set to the write number of the call as it is written (each attempt:
   * the one after a reload counts anew), for the WAIT that must come after it (replicated()).
   */
  private async countedFcall(sent: { n: number } | undefined, name: FunctionName, ...args: (string | number)[]): Promise<unknown> {
    const call = () => {
      if (sent) sent.n = ++this.writesSent;
      return this.redis.call("FCALL", functionName(name), 0, ...args);
    };
    return this.command(name, async () => {
      try {
        return await call();
      } catch (err) {
        // A Redis that restarted without persistence, or a replica promoted before the library
        // reached it, has no functions: load them again and try once more.
        if (!/function not found/i.test((err as Error).message)) throw err;
        await this.redis.call("FUNCTION", "LOAD", "REPLACE", await librarySource());
        return call();
      }
    });
  }

  /**
   * Sends commands, turning what ioredis throws (refused or lost connection, a timeout, a
   * closed client, an error reply such as READONLY or LOADING) into QueueUnavailableError with
   * the driver's error as its cause: the same call may succeed once Redis is back.
   */
  private async command<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      throw asUnavailable("queue", err, `the Redis queue could not ${what}`, mayHaveReachedRedis(err));
    }
  }

  async ping(): Promise<void> {
    await this.command("ping", () => this.redis.ping());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake();
    if (this.subscriber) void endRedis(this.subscriber);
    await endRedis(this.redis, { quit: true });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/**
 * Whether a failed command may have run on the server all the same. Only two failures say for
 * sure that it did not: an error reply (Redis refused it: READONLY, LOADING, NOSCRIPT, …;
 * Ferry's functions check before they write) and ioredis refusing to write it while
 * disconnected. A timeout, or a connection lost with the command sent, leaves it unknown.
 */
function mayHaveReachedRedis(err: unknown): boolean {
  if (err instanceof ReplyError) return false;
  return !(err instanceof Error && err.message.startsWith("Stream isn't writeable"));
}

function connectionOptions(options: RedisQueueOptions): RedisOptions {
  return {
    // Fail fast while Redis is away: ingest answers 503 rather than holding the sender, and
    // a command that may have reached the server is never sent twice behind our back.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.commandTimeoutMs ?? 10_000,
    connectTimeout: 5_000,
    enableReadyCheck: true,
  };
}
