/**
 * The Redis queue's wire formats, without Redis: what the adapter packs into ARGV reads back
 * as the Lua files read it, and replies that lack the promised shape are refused rather than
 * misread. (test/queue.redis.test.ts runs the same formats against a real server.)
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Endpoint } from "../src/core/types.js";
import type { EnqueueBatch, Reservation, Settlement } from "../src/queue/port.js";
import {
  MalformedReplyError,
  batchOf,
  decodeEndpoint,
  encodeEndpoint,
  enqueueArgs,
  indexOf,
  parseBatchRecord,
  parseCount,
  parseEnqueueReply,
  parseFindReply,
  parseMembers,
  parseReserveReply,
  parseStatsReply,
  settleArgs,
} from "../src/queue/redis-codec.js";

const EP: Endpoint = { id: "ep1", method: "POST", url: "http://partner.example/{a}?b={b}", defaultValue: "—", maxAttempts: 5 };
const OWNED: Endpoint = { ...EP, id: "ep2", accountId: "acct_1", destinationId: "dst_1" };

/** Reads enqueue ARGV (after the prefix) back, batch after batch, the way enqueue.lua does. */
function readEnqueueArgs(args: string[]) {
  const batches = [];
  let i = 0;
  while (i < args.length) {
    const [flagged, endpointId, json, idPrefix, suffixes] = args.slice(i, i + 5);
    const ordered = flagged!.startsWith("o");
    const when = ordered ? flagged!.slice(1) : flagged!;
    const ids = suffixes!.split("\n").map((s) => idPrefix + s);
    const data = args.slice(i + 5, i + 5 + ids.length);
    assert.equal(data.length, ids.length, "one data object per id");
    const orderKeys = ordered ? args.slice(i + 5 + ids.length, i + 5 + 2 * ids.length) : ids.map(() => "");
    assert.equal(orderKeys.length, ids.length, "one order key per id");
    const [createdAt, before] = when.split(":");
    batches.push({
      createdAt: Number(createdAt),
      attempts: before === undefined ? data.map(() => 0) : before.split(",").map(Number),
      endpointId,
      json,
      ids,
      data,
      orderKeys,
    });
    i += 5 + (ordered ? 2 : 1) * ids.length;
  }
  return batches;
}

/** One batch's ARGV, read back. */
function readOne(args: string[]) {
  const batches = readEnqueueArgs(args);
  assert.equal(batches.length, 1);
  return batches[0]!;
}

const always = () => true;
const never = () => false;

/** The member enqueue.lua gives entry `index` of batch number `batch`. */
function member(batch: number, index: number): string {
  const b36 = (n: number) => n.toString(36).length + n.toString(36);
  return b36(batch) + b36(index);
}

describe("Redis codec: endpoints", () => {
  test("an endpoint round-trips, with and without owner and destination", () => {
    for (const e of [EP, OWNED, { ...EP, accountId: "acct_only" }, { ...EP, destinationId: "dst_only" }]) {
      assert.deepEqual(decodeEndpoint(e.id, encodeEndpoint(e)), e);
    }
  });

  test("an endpoint without owner or destination travels as four fields", () => {
    assert.deepEqual(JSON.parse(encodeEndpoint(EP)), ["POST", EP.url, "—", 5]);
  });

  test("JSON that is not an endpoint list is refused", () => {
    assert.throws(() => decodeEndpoint("ep1", '{"method":"GET"}'), /malformed endpoint ep1/);
    assert.throws(() => decodeEndpoint("ep1", "not json"), SyntaxError);
  });
});

describe("Redis codec: enqueue", () => {
  test("ids travel as their common prefix and suffixes, and read back in order with their data", () => {
    const batch: EnqueueBatch = {
      endpoint: EP,
      postbacks: ["pb_01JD3Q8Y2M0001", "pb_01JD3Q8Y2M0002", "pb_01JD3Q8Y2M0013"].map((id, i) => ({ id, data: `{"n":${i}}` })),
      createdAt: 1_700_000_000_123,
    };
    const args = enqueueArgs([batch], always);
    assert.equal(args[3], "pb_01JD3Q8Y2M00", "the common prefix travels once");
    assert.equal(args[4], "01\n02\n13");
    const read = readOne(args);
    assert.deepEqual(read.ids, batch.postbacks.map((p) => p.id));
    assert.deepEqual(read.data, batch.postbacks.map((p) => p.data));
    assert.equal(read.createdAt, batch.createdAt);
    assert.deepEqual(read.attempts, [0, 0, 0]);
    assert.equal(read.endpointId, "ep1");
    assert.deepEqual(decodeEndpoint("ep1", read.json!), EP);
  });

  test("an id that is a prefix of the others, and a single id, round-trip", () => {
    for (const ids of [["pb_1", "pb_10", "pb_100"], ["only"], ["a", "b"], ["same-prefix-x", "same-prefix-x2"]]) {
      const args = enqueueArgs([{ endpoint: EP, postbacks: ids.map((id) => ({ id, data: "{}" })), createdAt: 1 }], never);
      assert.deepEqual(readOne(args).ids, ids);
    }
  });

  test("attempts made before travel only for resends", () => {
    const fresh = enqueueArgs([{ endpoint: EP, postbacks: [{ id: "a", data: "{}" }, { id: "b", data: "{}" }], createdAt: 5 }], never);
    assert.equal(fresh[0], "5");
    const resent = enqueueArgs([{ endpoint: EP, postbacks: [{ id: "a", data: "{}", attempts: 3 }, { id: "b", data: "{}" }], createdAt: 5 }], never);
    assert.equal(resent[0], "5:3,0");
    assert.deepEqual(readOne(resent).attempts, [3, 0]);
  });

  test("order keys travel after the data, one per id, only for batches that have any (ferry_v5)", () => {
    const plain = enqueueArgs([{ endpoint: EP, postbacks: [{ id: "a", data: "{}" }], createdAt: 5 }], never);
    assert.equal(plain.length, 6, "nothing more for a batch in no line");
    const lined = enqueueArgs(
      [
        { endpoint: EP, postbacks: [{ id: "a", data: "{}", orderKey: "dst_1" }, { id: "b", data: "{}" }, { id: "c", data: "{}", orderKey: "dst_1:k,;\n" }], createdAt: 5 },
        { endpoint: EP, postbacks: [{ id: "d", data: "{}", attempts: 2 }], createdAt: 6 },
        { endpoint: EP, postbacks: [{ id: "e", data: "{}", attempts: 1, orderKey: "x" }], createdAt: 7 },
      ],
      never,
    );
    assert.deepEqual([lined[0], lined[11], lined[17]], ["o5", "6:2", "o7:1"]);
    const [first, second, third] = readEnqueueArgs(lined);
    assert.deepEqual(first!.orderKeys, ["dst_1", "", "dst_1:k,;\n"], "any text: each key is an argument of its own");
    assert.deepEqual(first!.ids, ["a", "b", "c"]);
    assert.deepEqual([second!.ids, second!.orderKeys, second!.attempts], [["d"], [""], [2]]);
    assert.deepEqual([third!.ids, third!.orderKeys, third!.attempts, third!.createdAt], [["e"], ["x"], [1], 7]);
  });

  test("an id with a line break, or an empty batch, is refused before it reaches Redis", () => {
    assert.throws(() => enqueueArgs([{ endpoint: EP, postbacks: [{ id: "a\nb", data: "{}" }], createdAt: 1 }], never), /line break/);
    assert.throws(() => enqueueArgs([{ endpoint: EP, postbacks: [], createdAt: 1 }], never), /empty batch/);
  });

  test("several batches follow one another; an endpoint's JSON travels once, and only when asked for", () => {
    const batches: EnqueueBatch[] = [
      { endpoint: EP, postbacks: [{ id: "pb_a1", data: "1" }, { id: "pb_a2", data: "2" }], createdAt: 10 },
      { endpoint: OWNED, postbacks: [{ id: "pb_b1", data: "3", attempts: 2 }], createdAt: 20 },
      { endpoint: EP, postbacks: [{ id: "pb_c1", data: "4" }, { id: "pb_c2", data: "5" }, { id: "pb_c3", data: "6" }], createdAt: 30 },
    ];
    const read = readEnqueueArgs(enqueueArgs(batches, (id) => id === "ep1"));
    assert.deepEqual(read.map((b) => b.ids), batches.map((b) => b.postbacks.map((p) => p.id)));
    assert.deepEqual(read.map((b) => b.data), batches.map((b) => b.postbacks.map((p) => p.data)));
    assert.deepEqual(read.map((b) => b.createdAt), [10, 20, 30]);
    assert.deepEqual(read.map((b) => b.attempts), [[0, 0], [2], [0, 0, 0]]);
    assert.deepEqual(read.map((b) => b.endpointId), ["ep1", "ep2", "ep1"]);
    assert.deepEqual(read.map((b) => b.json), [encodeEndpoint(EP), "", ""], "ep1's JSON once; ep2's left out");
    assert.deepEqual(enqueueArgs([batches[0]!], never), enqueueArgs([batches[0]!], never), "deterministic");
    assert.deepEqual(enqueueArgs([], always), []);
  });

  test("replies: a count, a duplicate id, a missing endpoint", () => {
    assert.deepEqual(parseEnqueueReply(3), { kind: "queued", count: 3 });
    assert.deepEqual(parseEnqueueReply([-1, "pb_x"]), { kind: "duplicate", id: "pb_x" });
    assert.deepEqual(parseEnqueueReply([-2]), { kind: "endpoint-missing" });
  });

  test("malformed enqueue replies are refused", () => {
    for (const bad of [null, "3", -1, 1.5, [], [-1], [-1, 7], [-2, "x"], [-3], { n: 1 }]) {
      assert.throws(() => parseEnqueueReply(bad), MalformedReplyError, JSON.stringify(bad));
    }
  });
});

describe("Redis codec: members and batch records", () => {
  test("members name their batch and index, and sort in insertion order", () => {
    const members = [member(1, 0), member(1, 1), member(1, 35), member(1, 36), member(36, 0), member(1296, 1297)];
    assert.deepEqual([...members].sort(), members, "byte order is insertion order");
    assert.equal(batchOf(member(36, 5)), "210");
    assert.equal(indexOf(member(36, 5)), 5);
    assert.equal(indexOf(member(1296, 1297)), 1297);
    assert.equal(batchOf(member(1296, 1297)), "3100");
  });

  test("a batch record reads back its createdAt, endpoint and ids", () => {
    assert.deepEqual(parseBatchRecord("1700000000000\nep1\npb_0\n1\n2\n"), { createdAt: 1_700_000_000_000, endpointId: "ep1", ids: ["pb_01", "pb_02", "pb_0"] });
  });

  test("a malformed batch record is refused", () => {
    for (const bad of ["", "123", "123\nep1", "123\nep1\npb", "x\nep1\npb\n1", "123\n\npb\n1"]) {
      assert.throws(() => parseBatchRecord(bad), /malformed batch record/, JSON.stringify(bad));
    }
  });
});

describe("Redis codec: reserve", () => {
  test("entries and the batches they name read back; data may hold commas", () => {
    const m1 = member(10, 0);
    const m2 = member(10, 1);
    const m3 = member(11, 0);
    const reply = [`${m1},1,1,{"a":1,"b":2}`, `${m2},3,5,{}`, `${m3},1,1,"x,y"`, "1a:1000,1b:2000"];
    const { entries, batches } = parseReserveReply(reply);
    assert.deepEqual([...batches], [["1a", "1000"], ["1b", "2000"]]);
    assert.deepEqual(entries, [
      { member: m1, batch: "1a", index: 0, attempt: 1, lease: `${m1},1`, data: '{"a":1,"b":2}' },
      { member: m2, batch: "1a", index: 1, attempt: 3, lease: `${m2},5`, data: "{}" },
      { member: m3, batch: "1b", index: 0, attempt: 1, lease: `${m3},1`, data: '"x,y"' },
    ]);
  });

  test("an empty reply reserves nothing", () => {
    assert.deepEqual(parseReserveReply([]), { entries: [], batches: new Map() });
  });

  test("malformed reserve replies are refused", () => {
    const m = member(10, 0);
    for (const bad of [
      null,
      "x",
      [`${m},1,1,{}`], // no batch list
      [`${m},1,1,{}`, 7], // batch list not a string
      [`${m},1,1,{}`, "1a"], // batch without createdAt
      [`${m},1,1,{}`, "1b:5"], // entry's batch not listed
      [`${m},1,{}`, "1a:5"], // no lease
      [`${m},x,1,{}`, "1a:5"], // attempt not a number
      [`${m},0,1,{}`, "1a:5"], // attempt 0
      [`${m},1,-1,{}`, "1a:5"], // lease not a count
      ["1a,1,1,{}", "1a:5"], // member without an index
      [42, "1a:5"],
    ]) {
      assert.throws(() => parseReserveReply(bad), MalformedReplyError, JSON.stringify(bad));
    }
  });
});

describe("Redis codec: settle", () => {
  const r = (lease: string, endpoint: Endpoint = OWNED): Reservation => ({ postbackId: "pb", endpoint, data: "{}", attempt: 1, createdAt: 0, lease });

  test("settlements group by kind, each entry naming its lease", () => {
    const settlements: Settlement[] = [
      { reservation: r("2a0,1"), settle: { kind: "done" } },
      { reservation: r("2a1,3"), settle: { kind: "retry", at: 100 } },
      { reservation: r("2a2,1"), settle: { kind: "done" } },
      { reservation: r("2a3,1"), settle: { kind: "release", at: 200 } },
      { reservation: r("2a4,7"), settle: { kind: "hold" } },
    ];
    assert.deepEqual(settleArgs(settlements), ["d2a0,1;2a2,1", "r2a1,3,100", "l2a3,1,200", "h2a4,7,dst_1"]);
    assert.deepEqual(settleArgs([]), []);
  });

  test("a hold needs a destination without ';'", () => {
    assert.throws(() => settleArgs([{ reservation: r("2a0,1", EP), settle: { kind: "hold" } }]), /no destination/);
    assert.throws(() => settleArgs([{ reservation: r("2a0,1", { ...EP, destinationId: "a;b" }), settle: { kind: "hold" } }]), /cannot hold ";"/);
  });

  test("counts are whole and not negative", () => {
    assert.equal(parseCount("settle", 0), 0);
    assert.equal(parseCount("settle", 12), 12);
    for (const bad of [null, "1", -1, 0.5, [1]]) assert.throws(() => parseCount("settle", bad), MalformedReplyError);
  });
});

describe("Redis codec: find", () => {
  const record = "1700000000000\nep2\npb_\n1";

  test("a queued entry reads back with its endpoint, attempts and due time", () => {
    assert.deepEqual(parseFindReply("pb_1", ["2,4,pb_1", "{}", "1700000005000", record, encodeEndpoint(OWNED)]), {
      postbackId: "pb_1",
      endpoint: OWNED,
      data: "{}",
      attempts: 2,
      dueAt: 1_700_000_005_000,
      held: false,
      createdAt: 1_700_000_000_000,
    });
  });

  test("a held entry has no due time; a postback not queued is undefined", () => {
    const found = parseFindReply("pb_1", ["0,2,pb_1", "{}", null, record, encodeEndpoint(OWNED)]);
    assert.equal(found?.held, true);
    assert.equal(found?.dueAt, null);
    assert.equal(parseFindReply("pb_1", null), undefined);
  });

  test("an entry behind its line's head is not held and has no due time (ferry_v5)", () => {
    const found = parseFindReply("pb_1", ["0,0,pb_1", "{}", null, record, encodeEndpoint(OWNED), 1]);
    assert.deepEqual([found?.held, found?.dueAt], [false, null]);
    assert.equal(parseFindReply("pb_1", ["0,2,pb_1", "{}", null, record, encodeEndpoint(OWNED), 0])?.held, true);
  });

  test("malformed find replies are refused", () => {
    for (const bad of ["x", [], ["2,4,pb_1", "{}"], [1, "{}", null, record, null], ["24", "{}", null, record, null], ["2,4,pb_1", "{}", 5, record, null], ["2,4,pb_1", "{}", null, "no-lines", null]]) {
      assert.throws(() => parseFindReply("pb_1", bad), MalformedReplyError, JSON.stringify(bad));
    }
  });
});

describe("Redis codec: stats and listings", () => {
  test("stats reads [ready, not held] as ready and waiting", () => {
    assert.deepEqual(parseStatsReply([3, 10]), { ready: 3, waiting: 7 });
    assert.deepEqual(parseStatsReply([0, 0]), { ready: 0, waiting: 0 });
    for (const bad of [null, [1], [1, 2, 3], [-1, 2], [3, 2], ["1", "2"], [1.5, 2]]) assert.throws(() => parseStatsReply(bad), MalformedReplyError, JSON.stringify(bad));
  });

  test("latest reads a list of members", () => {
    assert.deepEqual(parseMembers([member(1, 0), member(40, 3)]), [member(1, 0), member(40, 3)]);
    assert.deepEqual(parseMembers([]), []);
    for (const bad of [null, "11", [1], ["pb_1"], [""]]) assert.throws(() => parseMembers(bad), MalformedReplyError, JSON.stringify(bad));
  });
});
