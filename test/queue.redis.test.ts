import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { RedisQueue } from "../src/queue/redis.js";
import { BackendError } from "../src/backend-error.js";
import { DuplicateIdError, QueueUnavailableError } from "../src/core/port-errors.js";
import type { Queue } from "../src/queue/port.js";
import { freePort, networkBytes, startRedis, type TestRedis } from "./support/redis.js";
import { queueConformance, endpoint, postbacks, type OpenedQueue } from "./conformance/queue.js";
import { queueLinesConformance } from "./conformance/queue-lines.js";
import { queueSettleReserveConformance } from "./conformance/queue-settle-reserve.js";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { FUNCTIONS, LIBRARY_NAME, librarySource } from "../src/queue/redis-functions.js";
import { enqueueArgs, parseReserveReply } from "../src/queue/redis-codec.js";
import { repoPath } from "./support/paths.js";

// One server for the file (its own port, a password); each queue gets its own key prefix.
const server = await startRedis();
after(() => server.close());

let prefixes = 0;
const newPrefix = () => `t${process.pid}x${++prefixes}`;

async function openQueue(): Promise<OpenedQueue> {
  const prefix = newPrefix();
  const opened: Queue[] = [];
  const openOne = async () => {
    const q = await RedisQueue.connect(server.url, { prefix });
    opened.push(q);
    return q;
  };
  return {
    queue: await openOne(),
    peer: openOne,
    // Ends the queues' connections; the shared server stays up for the other tests (the
    // outage test below stops a server of its own).
    async cutOff() {
      for (const q of opened) await q.close();
    },
    async close() {
      for (const q of opened) await q.close();
    },
  };
}

queueConformance("Redis", openQueue);
queueLinesConformance("Redis", openQueue);

const T0 = Date.UTC(2024, 0, 1);

/** The queue's keys under `prefix` but the batch counter and endpoints (which expire on their own). */
async function leftKeys(admin: Redis, prefix: string): Promise<string[]> {
  return (await admin.keys(`${prefix}:*`)).filter((k) => k !== `${prefix}:seq` && !k.startsWith(`${prefix}:e:`)).sort();
}

/** FCALLs the server has run so far (all connections). */
async function fcallCalls(admin: Redis): Promise<number> {
  const info = (await admin.info("commandstats")) as string;
  return Number(/^cmdstat_fcall:calls=(\d+)/m.exec(info)?.[1] ?? 0);
}
/** The seed's data object. */
const SEED_DATA = JSON.stringify({ mascot: "Gopher", location: "https://blog.golang.org/gopher/gopher.png" });

describe("Redis queue: connecting", () => {
  test("a wrong password fails with one line naming FERRY_REDIS_URL, without the password", async () => {
    const url = `redis://:not-the-password@127.0.0.1:${server.port}/0`;
    const err = await RedisQueue.connect(url).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof BackendError, String(err));
    assert.match(err.message, /^FERRY_REDIS_URL: .*password is wrong/);
    assert.doesNotMatch(err.message, /not-the-password/);
    assert.doesNotMatch(err.message, /\n/);
  });

  test("no password where one is required says to put it in the URL", async () => {
    const err = await RedisQueue.connect(`redis://127.0.0.1:${server.port}/0`).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof BackendError);
    assert.match(err.message, /^FERRY_REDIS_URL: .*asks for a password/);
  });

  test("a port where nothing listens fails at once, naming the setting", async () => {
    const port = await freePort();
    const t0 = performance.now();
    const err = await RedisQueue.connect(`redis://:x@127.0.0.1:${port}/0`).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof BackendError);
    assert.match(err.message, /^FERRY_REDIS_URL: cannot use Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0: nothing is listening/);
    assert.ok(performance.now() - t0 < 5000);
  });

  test("an ACL user with its own password works", async () => {
    const admin = new Redis(server.url);
    try {
      await admin.call("ACL", "SETUSER", "ferry-acl", "on", ">acl-secret", "~*", "&*", "+@all");
      const queue = await RedisQueue.connect(`redis://ferry-acl:acl-secret@127.0.0.1:${server.port}/3`, { prefix: newPrefix() });
      try {
        await queue.enqueue({ endpoint: endpoint(), postbacks: postbacks(2), createdAt: T0 });
        assert.equal((await queue.reserve(10, 1000, T0)).length, 2);
      } finally {
        await queue.close();
      }
    } finally {
      await admin.call("ACL", "DELUSER", "ferry-acl");
      admin.disconnect();
    }
  });
});

describe("Redis queue: on the wire", () => {
  test("a seed-shaped postback costs at most 3× its data object in bytes to and from Redis", async (t) => {
    const prefix = newPrefix();
    const queue = await RedisQueue.connect(server.url, { prefix });
    // Reads the server's byte counters on a connection of its own; its INFO calls are counted
    // too, and are small next to 1000 postbacks.
    const admin = new Redis(server.url);
    try {
      const ep = endpoint({ url: "http://sample_domain_endpoint.com/data?title={mascot}&image={location}&foo={bar}" });
      // Warm up: the scripts are loaded and the worker has seen the endpoint once.
      await queue.enqueue({ endpoint: ep, postbacks: [{ id: `pb_warm_${prefix}`, data: SEED_DATA }], createdAt: T0 });
      await queue.settle((await queue.reserve(1, 1000, T0)).map((reservation) => ({ reservation, settle: { kind: "done" } })));

      const before = await networkBytes(admin);
      const requests = 100;
      for (let r = 0; r < requests; r++) {
        // Ids as ingest makes them: monotonic ULIDs that share all but their last characters.
        const ids = Array.from({ length: 10 }, (_, i) => `pb_01JD3Q8Y2M5V7W9X0Z1A${prefix.padStart(4, "0").slice(-4)}${String(r * 10 + i).padStart(4, "0")}`);
        await queue.enqueue({ endpoint: ep, postbacks: ids.map((id) => ({ id, data: SEED_DATA })), createdAt: T0 });
      }
      let delivered = 0;
      for (;;) {
        const rs = await queue.reserve(128, 60_000, T0);
        if (rs.length === 0) break;
        delivered += await queue.settle(rs.map((reservation) => ({ reservation, settle: { kind: "done" } })));
      }
      const afterBytes = await networkBytes(admin);
      assert.equal(delivered, requests * 10);
      const perPostback = (afterBytes.input - before.input + afterBytes.output - before.output) / delivered;
      const ratio = perPostback / Buffer.byteLength(SEED_DATA);
      t.diagnostic(`${perPostback.toFixed(0)} bytes per postback, ${ratio.toFixed(2)}× the data object`);
      assert.ok(ratio <= 3, `${perPostback.toFixed(0)} bytes per postback for a ${Buffer.byteLength(SEED_DATA)}-byte data object: ${ratio.toFixed(2)}×`);
    } finally {
      admin.disconnect();
      await queue.close();
    }
  });
});

describe("Redis queue: when Redis goes away", () => {
  let own: TestRedis;
  before(async () => {
    own = await startRedis();
  });
  after(() => own.close());

  test("calls fail fast while it is down, and what was queued is there when it is back", async () => {
    const queue = await RedisQueue.connect(own.url, { prefix: newPrefix() });
    try {
      const b = { endpoint: endpoint(), postbacks: postbacks(5), createdAt: T0 };
      await queue.enqueue(b);
      await own.stop(true);
      const t0 = performance.now();
      const unavailable = (err: unknown) => err instanceof QueueUnavailableError && err.cause instanceof Error;
      await assert.rejects(
        queue.enqueue({ endpoint: endpoint(), postbacks: postbacks(1), createdAt: T0 }),
        (err) => unavailable(err) && (err as QueueUnavailableError).maybeApplied === false,
        "refused before it was sent: known not to have run",
      );
      await assert.rejects(queue.reserve(10, 1000, T0), unavailable);
      await assert.rejects(queue.stats(T0), unavailable);
      await assert.rejects(queue.ping(), unavailable);
      assert.ok(performance.now() - t0 < 2000, "fails fast rather than waiting for Redis");
      await own.start();
      // ioredis reconnects by itself, backing off up to 2 s.
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await queue.ping();
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const rs = await queue.reserve(10, 1000, T0);
      assert.deepEqual(rs.map((r) => r.postbackId).sort(), b.postbacks.map((p) => p.id).sort());
    } finally {
      await queue.close();
    }
  });
});

describe("Redis queue: an enqueue whose answer is lost", () => {
  test("a call Redis runs after the command timeout fails as maybe applied, and withdraw then finds it queued", async () => {
    const admin = new Redis(server.url);
    const queue = await RedisQueue.connect(server.url, { prefix: newPrefix(), commandTimeoutMs: 200 });
    try {
      const b = { endpoint: endpoint(), postbacks: postbacks(2), createdAt: T0 };
      await admin.call("CLIENT", "PAUSE", "800", "WRITE");
      await assert.rejects(queue.enqueue(b), (err) => err instanceof QueueUnavailableError && err.maybeApplied);
      await admin.call("CLIENT", "UNPAUSE");
      assert.equal(await queue.withdraw(b.postbacks[0]!.id, 60_000), "queued", "the call ran after all, before the withdraw");
      assert.ok(await queue.find(b.postbacks[1]!.id));
    } finally {
      await admin.call("CLIENT", "UNPAUSE");
      admin.disconnect();
      await queue.close();
    }
  });

  test("a withdrawn call that reaches Redis late is refused whole, and only for the withdrawal's time", async () => {
    const queue = await RedisQueue.connect(server.url, { prefix: newPrefix() });
    try {
      const late = { endpoint: endpoint(), postbacks: postbacks(3), createdAt: T0 };
      assert.equal(await queue.withdraw(late.postbacks[0]!.id, 300), "withdrawn");
      await assert.rejects(queue.enqueue(late), (err) => err instanceof DuplicateIdError && err.id === late.postbacks[0]!.id);
      for (const pb of late.postbacks) assert.equal(await queue.find(pb.id), undefined, "nothing of it queued");
      const other = { endpoint: endpoint(), postbacks: postbacks(1), createdAt: T0 };
      await queue.enqueue(other);
      assert.ok(await queue.find(other.postbacks[0]!.id), "other calls go on");
      await new Promise((r) => setTimeout(r, 400));
      await queue.enqueue(late);
      assert.ok(await queue.find(late.postbacks[0]!.id), "the mark expired");
    } finally {
      await queue.close();
    }
  });
});

describe("Redis queue: when Redis loses or rewinds state", () => {
  test("a batch number given again after a rollback is not mistaken for the cached batch", async () => {
    const prefix = newPrefix();
    const queue = await RedisQueue.connect(server.url, { prefix });
    const admin = new Redis(server.url);
    try {
      const first = { endpoint: endpoint(), postbacks: postbacks(3), createdAt: T0 };
      await queue.enqueue(first);
      const rs = await queue.reserve(10, 1000, T0);
      await queue.settle(rs.map((reservation) => ({ reservation, settle: { kind: "done" } })));
      // As a failover to a replica that lagged would: the batch counter goes back.
      await admin.set(`${prefix}:seq`, "0");
      const second = { endpoint: endpoint({ url: "http://other.example/{n}" }), postbacks: postbacks(3), createdAt: T0 + 1 };
      await queue.enqueue(second);
      const again = await queue.reserve(10, 1000, T0 + 1);
      assert.deepEqual(again.map((r) => r.postbackId).sort(), second.postbacks.map((p) => p.id).sort());
      for (const r of again) assert.deepEqual(r.endpoint, second.endpoint);
    } finally {
      admin.disconnect();
      await queue.close();
    }
  });

  test("an endpoint Redis no longer has is sent again, though this process sent it before", async () => {
    const prefix = newPrefix();
    const queue = await RedisQueue.connect(server.url, { prefix });
    const admin = new Redis(server.url);
    try {
      const ep = endpoint();
      await queue.enqueue({ endpoint: ep, postbacks: postbacks(1), createdAt: T0 });
      await queue.settle((await queue.reserve(10, 1000, T0)).map((reservation) => ({ reservation, settle: { kind: "done" } })));
      assert.ok((await admin.ttl(`${prefix}:e:${ep.id}`)) > 0, "an unused endpoint expires");
      await admin.del(`${prefix}:e:${ep.id}`);
      const b = { endpoint: ep, postbacks: postbacks(2), createdAt: T0 };
      await queue.enqueue(b);
      assert.equal(await admin.ttl(`${prefix}:e:${ep.id}`), -1, "an endpoint in use does not expire");
      // Another process, which has never seen the endpoint, reads it from Redis.
      const other = await RedisQueue.connect(server.url, { prefix });
      try {
        const rs = await other.reserve(10, 1000, T0);
        assert.equal(rs.length, 2);
        for (const r of rs) assert.deepEqual(r.endpoint, ep);
      } finally {
        await other.close();
      }
    } finally {
      admin.disconnect();
      await queue.close();
    }
  });
});

describe("Redis queue: waking other processes", () => {
  /** A queue in "another process" (its own connections) that waits while this one acts. */
  async function wokenBy(act: (queue: RedisQueue) => Promise<unknown>, setup: (queue: RedisQueue) => Promise<void>): Promise<void> {
    const prefix = newPrefix();
    const queue = await RedisQueue.connect(server.url, { prefix });
    const other = await RedisQueue.connect(server.url, { prefix });
    try {
      await setup(queue);
      // Once subscribed (the first wait subscribes), a wait that nothing wakes runs its course.
      await other.waitForWork(200);
      const t0 = performance.now();
      const waiting = other.waitForWork(60_000);
      await new Promise((r) => setTimeout(r, 50));
      await act(queue);
      await Promise.race([waiting, new Promise((_, reject) => setTimeout(() => reject(new Error("not woken within 2 s")), 2000))]);
      assert.ok(performance.now() - t0 < 2000);
    } finally {
      await other.close();
      await queue.close();
    }
  }

  test("an unhold in one process wakes waitForWork in another", async () => {
    const ep = endpoint({ destinationId: "dst_wake" });
    await wokenBy(
      async (queue) => assert.equal(await queue.unhold("dst_wake"), 1),
      async (queue) => {
        await queue.enqueue({ endpoint: ep, postbacks: postbacks(1), createdAt: Date.now() });
        await queue.settle((await queue.reserve(1, 60_000)).map((reservation) => ({ reservation, settle: { kind: "hold" } })));
      },
    );
  });

  test("a reschedule to an earlier time in one process wakes waitForWork in another", async () => {
    const pbs = postbacks(1);
    await wokenBy(
      async (queue) => assert.equal(await queue.reschedule(pbs[0]!.id, Date.now()), true),
      async (queue) => {
        await queue.enqueue({ endpoint: endpoint(), postbacks: pbs, createdAt: Date.now() });
        const rs = await queue.reserve(1, 60_000);
        await queue.settle(rs.map((reservation) => ({ reservation, settle: { kind: "retry", at: Date.now() + 60_000 } })));
      },
    );
  });
});

describe("Redis queue: functions", () => {
  test("every .lua file is in the library, headed by its inputs and outputs, and the build copies it", async () => {
    const source = readdirSync(repoPath("src", "queue", "redis")).filter((f) => f.endsWith(".lua")).sort();
    assert.deepEqual(source, [...FUNCTIONS.map((f) => `${f}.lua`), "helpers.lua"].sort(), "a .lua file the library leaves out, or a function without its file");
    const built = readdirSync(fileURLToPath(new URL("../src/queue/redis/", import.meta.url))).sort();
    assert.deepEqual(built, source, "dist/ holds the same files as src/");
    for (const name of FUNCTIONS) {
      const text = readFileSync(repoPath("src", "queue", "redis", `${name}.lua`), "utf8");
      assert.match(text, /^--\[\[[\s\S]*?Input:[\s\S]*?Output:[\s\S]*?\]\]/, `${name}.lua starts with its header`);
    }
    const library = await librarySource();
    assert.ok(library.startsWith(`#!lua name=${LIBRARY_NAME}\n`));
    for (const name of FUNCTIONS) assert.ok(library.includes(`redis.register_function("${LIBRARY_NAME}_${name}"`), name);
  });

  test("the library's version is in its name: an older Ferry's library stays beside it", async () => {
    const admin = new Redis(server.url);
    try {
      await admin.call("FUNCTION", "LOAD", "REPLACE", "#!lua name=ferry_v1\nredis.register_function('ferry_v1_enqueue', function() return 1 end)");
      const queue = await RedisQueue.connect(server.url, { prefix: newPrefix() });
      try {
        await queue.enqueue({ endpoint: endpoint(), postbacks: postbacks(1), createdAt: T0 });
        assert.equal((await queue.reserve(10, 1000, T0)).length, 1);
        const libraries = (await admin.call("FUNCTION", "LIST")) as unknown[][];
        const names = libraries.map((l) => l[l.indexOf("library_name") + 1]);
        assert.ok(names.includes("ferry_v1") && names.includes(LIBRARY_NAME), `libraries: ${names.join(", ")}`);
      } finally {
        await queue.close();
      }
    } finally {
      await admin.call("FUNCTION", "DELETE", "ferry_v1").catch(() => {});
      admin.disconnect();
    }
  });

  test("a queue written by ferry_v2 (the release before) is read and settled by this one, and the other way round", async () => {
    // test/fixtures/ferry_v2-library.lua is ferry_v2 exactly as the release before loaded it.
    const v2 = readFileSync(repoPath("test", "fixtures", "ferry_v2-library.lua"), "utf8");
    const prefix = newPrefix();
    const admin = new Redis(server.url);
    const queue = await RedisQueue.connect(server.url, { prefix });
    try {
      await admin.call("FUNCTION", "LOAD", "REPLACE", v2);
      const old = { endpoint: endpoint({ destinationId: "dst_v2" }), postbacks: [...postbacks(2), { ...postbacks(1)[0]!, attempts: 2 }], createdAt: T0 };
      assert.equal(await admin.call("FCALL", "ferry_v2_enqueue", 0, prefix, ...enqueueArgs([old], () => true)), 3);
      const found = await queue.find(old.postbacks[2]!.id);
      assert.deepEqual(found, { postbackId: old.postbacks[2]!.id, endpoint: old.endpoint, data: old.postbacks[2]!.data, attempts: 2, dueAt: T0, held: false, createdAt: T0 });
      const rs = await queue.reserve(10, 1000, T0);
      assert.deepEqual(rs.map((r) => [r.postbackId, r.attempt]), old.postbacks.map((p) => [p.id, (p.attempts ?? 0) + 1]));
      for (const r of rs) assert.deepEqual(r.endpoint, old.endpoint);
      assert.equal(await queue.settle(rs.map((reservation) => ({ reservation, settle: { kind: "done" } }))), 3);

      // Entries this version queues (several batches at once) are read and settled by ferry_v2.
      const fresh = [{ endpoint: endpoint(), postbacks: postbacks(2), createdAt: T0 }, { endpoint: endpoint(), postbacks: postbacks(1), createdAt: T0 }];
      await queue.enqueue(fresh);
      const reserved = parseReserveReply(await admin.call("FCALL", "ferry_v2_reserve", 0, prefix, T0, T0 + 1000, 10));
      assert.equal(reserved.entries.length, 3);
      assert.equal(await admin.call("FCALL", "ferry_v2_settle", 0, prefix, "d" + reserved.entries.map((e) => e.lease).join(";")), 3);
      assert.deepEqual(await queue.stats(T0 + 5000), { ready: 0, waiting: 0 });
      assert.deepEqual(await leftKeys(admin, prefix), [], "nothing left but the batch counter and expiring endpoints");
    } finally {
      await admin.call("FUNCTION", "DELETE", "ferry_v2").catch(() => {});
      admin.disconnect();
      await queue.close();
    }
  });

  test("a fan-out is one function call, and wakes a waiting worker once", async () => {
    const prefix = newPrefix();
    const queue = await RedisQueue.connect(server.url, { prefix });
    const admin = new Redis(server.url);
    try {
      await queue.enqueue({ endpoint: endpoint(), postbacks: postbacks(1), createdAt: T0 }); // warm: the endpoint cache
      const calls = () => fcallCalls(admin);
      const before = await calls();
      await queue.enqueue(Array.from({ length: 5 }, (_, i) => ({ endpoint: endpoint(), postbacks: postbacks(2), createdAt: T0 + i })));
      assert.equal((await calls()) - before, 1, "five batches, one FCALL");
      assert.equal((await queue.stats(T0 + 10)).ready, 11);
    } finally {
      admin.disconnect();
      await queue.close();
    }
  });

  test("a Redis that lost Ferry's functions (a restart without persistence) gets them again", async () => {
    const prefix = newPrefix();
    const queue = await RedisQueue.connect(server.url, { prefix });
    const admin = new Redis(server.url);
    try {
      await admin.call("FUNCTION", "FLUSH");
      const b = { endpoint: endpoint(), postbacks: postbacks(2), createdAt: T0 };
      await queue.enqueue(b);
      assert.equal((await queue.reserve(10, 1000, T0)).length, 2);
    } finally {
      admin.disconnect();
      await queue.close();
    }
  });
});

describe("Redis queue: lanes and lines (ferry_v5)", () => {
  const drain = async (queue: RedisQueue, now: number) => {
    let n = 0;
    for (;;) {
      const rs = await queue.reserve(100, 1000, now);
      if (rs.length === 0) return n;
      n += await queue.settle(rs.map((reservation) => ({ reservation, settle: { kind: "done" } })));
    }
  };

  test("a queue written by ferry_v4 is delivered: its entries, whatever their account, are one lane beside the new ones", async () => {
    // test/fixtures/ferry_v4-library.lua is ferry_v4 as the release before loaded it.
    const v4 = readFileSync(repoPath("test", "fixtures", "ferry_v4-library.lua"), "utf8");
    const prefix = newPrefix();
    const admin = new Redis(server.url);
    const queue = await RedisQueue.connect(server.url, { prefix });
    try {
      await admin.call("FUNCTION", "LOAD", "REPLACE", v4);
      const old = [
        { endpoint: endpoint({ accountId: "acct_a", destinationId: "dst_a" }), postbacks: postbacks(30), createdAt: T0 },
        { endpoint: endpoint({ accountId: "acct_b", destinationId: "dst_b" }), postbacks: postbacks(2), createdAt: T0 + 1 },
      ];
      assert.equal(await admin.call("FCALL", "ferry_v4_enqueue", 0, prefix, ...enqueueArgs(old, () => true)), 32);
      const fresh = { endpoint: endpoint({ accountId: "acct_c", destinationId: "dst_c" }), postbacks: postbacks(3), createdAt: T0 + 100 };
      await queue.enqueue(fresh);
      assert.deepEqual(await queue.stats(T0 + 100), { ready: 35, waiting: 0 });
      assert.equal(await queue.oldestDueAt(T0 + 100), T0);
      const found = await queue.find(old[1]!.postbacks[0]!.id);
      assert.deepEqual([found?.dueAt, found?.held, found?.endpoint], [T0 + 1, false, old[1]!.endpoint]);

      // v4's entries are one lane (P:q) beside acct_c's: acct_c gets its share at once.
      const rs = await queue.reserve(10, 1000, T0 + 100);
      assert.deepEqual(rs.filter((r) => r.endpoint.accountId === "acct_c").map((r) => r.postbackId), fresh.postbacks.map((p) => p.id));
      assert.deepEqual(rs.filter((r) => r.endpoint.accountId === "acct_a").map((r) => r.postbackId), old[0]!.postbacks.slice(0, 7).map((p) => p.id));
      await queue.settle(rs.map((reservation) => ({ reservation, settle: { kind: "retry", at: T0 + 200 } })));
      assert.equal(await drain(queue, T0 + 200), 35);
      assert.deepEqual(await queue.stats(T0 + 200), { ready: 0, waiting: 0 });
      assert.deepEqual(await leftKeys(admin, prefix), [], "nothing left but the batch counter and expiring endpoints");
    } finally {
      await admin.call("FUNCTION", "DELETE", "ferry_v4").catch(() => {});
      admin.disconnect();
      await queue.close();
    }
  });

  test("lanes, lines and their indexes go when the queue is drained: nothing is left behind", async () => {
    const prefix = newPrefix();
    const admin = new Redis(server.url);
    const queue = await RedisQueue.connect(server.url, { prefix });
    try {
      const a = endpoint({ accountId: "acct_a", destinationId: "dst_a" });
      const b = endpoint({ accountId: "acct_b", destinationId: "dst_b" });
      const lined = (n: number, key: string) => postbacks(n).map((p) => ({ ...p, orderKey: key }));
      await queue.enqueue([
        { endpoint: a, postbacks: [...lined(3, "dst_a"), ...postbacks(2)], createdAt: T0 },
        { endpoint: b, postbacks: lined(2, "dst_b:user 1"), createdAt: T0 },
        { endpoint: endpoint(), postbacks: postbacks(2), createdAt: T0 },
      ]);
      const keys = await leftKeys(admin, prefix);
      for (const k of [":q", ":q:acct_a", ":q:acct_b", ":lanes", ":turn", ":bl", ":k", ":o:dst_a", ":o:dst_b:user 1", ":ol"]) assert.ok(keys.includes(prefix + k), `${k} in ${keys.join(" ")}`);
      // A held head, a retried one: then everything goes.
      const first = await queue.reserve(100, 1000, T0);
      assert.equal(first.length, 6, "two heads, four free entries");
      // Equal due times list in enqueue order: acct_a's first is its line's head.
      const headA = first.find((r) => r.endpoint.accountId === "acct_a")!;
      await queue.settle(first.map((reservation) => ({
        reservation,
        settle: reservation === headA ? { kind: "hold" } : reservation.endpoint.accountId === "acct_b" ? { kind: "retry", at: T0 + 50 } : { kind: "done" },
      })));
      assert.equal(await queue.unhold("dst_a"), 1);
      assert.equal(await drain(queue, Date.now()), 9 - 4);
      assert.deepEqual(await queue.stats(), { ready: 0, waiting: 0 });
      assert.deepEqual(await leftKeys(admin, prefix), []);
    } finally {
      admin.disconnect();
      await queue.close();
    }
  });

  test("behind one account's 50,000-entry backlog, another's fresh entries wait for no more than the next reservation", async () => {
    const queue = await RedisQueue.connect(server.url, { prefix: newPrefix() });
    try {
      const noisy = endpoint({ accountId: "acct_noisy" });
      for (let i = 0; i < 50; i++) await queue.enqueue({ endpoint: noisy, postbacks: postbacks(1000), createdAt: T0 });
      const quiet = endpoint({ accountId: "acct_quiet" });
      let now = T0 + 60_000;
      for (let round = 0; round < 20; round++) {
        const fresh = postbacks(5);
        await queue.enqueue({ endpoint: quiet, postbacks: fresh, createdAt: now });
        const rs = await queue.reserve(64, 60_000, now);
        assert.equal(rs.length, 64);
        const got = new Set(rs.map((r) => r.postbackId));
        for (const p of fresh) assert.ok(got.has(p.id), `round ${round}: a fresh entry of the quiet account waits behind the backlog`);
        await queue.settle(rs.map((reservation) => ({ reservation, settle: { kind: "done" } })));
        now += 10;
      }
      assert.equal((await queue.stats(now)).ready, 50_000 - 20 * 59);
    } finally {
      await queue.close();
    }
  });

  test("a reservation over many lanes is still one function call", async () => {
    const prefix = newPrefix();
    const queue = await RedisQueue.connect(server.url, { prefix });
    const admin = new Redis(server.url);
    try {
      const batches = Array.from({ length: 20 }, (_, i) => ({ endpoint: endpoint({ accountId: `acct_${i}` }), postbacks: postbacks(i === 0 ? 1000 : 3), createdAt: T0 + i }));
      await queue.enqueue(batches);
      const calls = () => fcallCalls(admin);
      const before = await calls();
      const rs = await queue.reserve(64, 1000, T0 + 100);
      assert.equal((await calls()) - before, 1);
      assert.equal(rs.length, 64);
      assert.equal(new Set(rs.map((r) => r.endpoint.accountId)).size, 20, "every account has its part");
      assert.equal(rs.filter((r) => r.endpoint.accountId === "acct_0").length, 64 - 19 * 3);
    } finally {
      admin.disconnect();
      await queue.close();
    }
  });
});

queueSettleReserveConformance("Redis", openQueue);

describe("Redis queue: settle and reserve in one call (ferry_v6)", () => {
  test("settleAndReserve is one function call, however many lanes and kinds of settle", async () => {
    const prefix = newPrefix();
    const queue = await RedisQueue.connect(server.url, { prefix });
    const admin = new Redis(server.url);
    try {
      const batches = Array.from({ length: 5 }, (_, i) => ({ endpoint: endpoint({ accountId: `acct_${i}`, destinationId: `dst_${i}` }), postbacks: postbacks(20), createdAt: T0 + i }));
      await queue.enqueue(batches);
      const rs = await queue.reserve(40, 1000, T0 + 100);
      const kinds = [{ kind: "done" }, { kind: "retry", at: T0 + 500 }, { kind: "release", at: T0 + 500 }, { kind: "hold" }] as const;
      const before = await fcallCalls(admin);
      const { settled, reserved } = await queue.settleAndReserve(rs.map((reservation, i) => ({ reservation, settle: kinds[i % 4]! })), 40, 1000, T0 + 100);
      assert.equal((await fcallCalls(admin)) - before, 1);
      assert.equal(settled, 40);
      assert.equal(reserved.length, 40);
      assert.equal(new Set([...rs, ...reserved].map((r) => r.postbackId)).size, 80, "the entries settled are not due before T0 + 500");
    } finally {
      admin.disconnect();
      await queue.close();
    }
  });

  test("a queue written by ferry_v5 (the release before) is settled and reserved by this one, and the other way round", async () => {
    // test/fixtures/ferry_v5-library.lua is ferry_v5 as the release before loaded it.
    const v5 = readFileSync(repoPath("test", "fixtures", "ferry_v5-library.lua"), "utf8");
    const prefix = newPrefix();
    const admin = new Redis(server.url);
    const queue = await RedisQueue.connect(server.url, { prefix });
    try {
      await admin.call("FUNCTION", "LOAD", "REPLACE", v5);
      const key = "line_v5";
      const old = [
        { endpoint: endpoint({ accountId: "acct_a", destinationId: "dst_a" }), postbacks: postbacks(3).map((p) => ({ ...p, orderKey: key })), createdAt: T0 },
        { endpoint: endpoint({ accountId: "acct_b", destinationId: "dst_b" }), postbacks: postbacks(4), createdAt: T0 + 1 },
      ];
      assert.equal(await admin.call("FCALL", "ferry_v5_enqueue", 0, prefix, ...enqueueArgs(old, () => true)), 7);
      // ferry_v5 reserved some (a v5 worker still running during the upgrade); this one settles them.
      const byV5 = parseReserveReply(await admin.call("FCALL", "ferry_v5_reserve", 0, prefix, T0 + 10, T0 + 1010, 3));
      assert.equal(byV5.entries.length, 3);
      const rs = await queue.reserve(10, 1000, T0 + 10);
      assert.equal(rs.length, 2, "the line's head and acct_b's other entries, less those v5 holds");
      let left = 7;
      let { settled, reserved } = await queue.settleAndReserve(rs.map((reservation) => ({ reservation, settle: { kind: "done" } })), 10, 1000, T0 + 20);
      left -= settled;
      assert.equal(await admin.call("FCALL", "ferry_v5_settle", 0, prefix, "d" + byV5.entries.map((e) => e.lease).join(";")), 3);
      left -= 3;
      while (reserved.length > 0 || left > 0) {
        ({ settled, reserved } = await queue.settleAndReserve(reserved.map((reservation) => ({ reservation, settle: { kind: "done" } })), 10, 1000, T0 + 1030));
        left -= settled;
        if (settled === 0 && reserved.length === 0) break;
      }
      assert.equal(left, 0, "every entry v5 queued was delivered once");

      // Entries this version queues are reserved and settled by ferry_v5.
      await queue.enqueue({ endpoint: endpoint({ accountId: "acct_c" }), postbacks: postbacks(2), createdAt: T0 });
      const again = parseReserveReply(await admin.call("FCALL", "ferry_v5_reserve", 0, prefix, T0 + 2000, T0 + 3000, 10));
      assert.equal(await admin.call("FCALL", "ferry_v5_settle", 0, prefix, "d" + again.entries.map((e) => e.lease).join(";")), 2);
      assert.deepEqual(await queue.stats(T0 + 5000), { ready: 0, waiting: 0 });
      assert.deepEqual(await leftKeys(admin, prefix), [], "nothing left but the batch counter and expiring endpoints");
    } finally {
      await admin.call("FUNCTION", "DELETE", "ferry_v5").catch(() => {});
      admin.disconnect();
      await queue.close();
    }
  });
});
