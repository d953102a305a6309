import { test } from "node:test";
import assert from "node:assert/strict";
import { BoundedMap } from "../src/core/bounded-map.js";

test("BoundedMap drops the entry set longest ago when full", () => {
  const m = new BoundedMap<string, number>(2);
  m.set("a", 1).set("b", 2);
  m.set("a", 10); // a is now the newest
  m.set("c", 3);
  assert.equal(m.get("b"), undefined);
  assert.equal(m.get("a"), 10);
  assert.equal(m.get("c"), 3);
  assert.equal(m.size, 2);
});

test("BoundedMap forgets entries older than its ttl", () => {
  const m = new BoundedMap<string, string>(10, 1000);
  m.set("k", "v", 5000);
  assert.equal(m.get("k", 5999), "v");
  assert.equal(m.get("k", 6000), undefined);
  assert.equal(m.size, 0, "an expired entry is deleted when read");
});

test("BoundedMap deleteWhere removes matching entries only", () => {
  const m = new BoundedMap<string, { account: string }>(10);
  m.set("t1", { account: "a" }).set("t2", { account: "b" }).set("t3", { account: "a" });
  m.deleteWhere((v) => v.account === "a");
  assert.deepEqual([m.has("t1"), m.has("t2"), m.has("t3")], [false, true, false]);
  assert.throws(() => new BoundedMap(0), RangeError);
});

test("BoundedMap values() yields the entries not expired, oldest set first", () => {
  const m = new BoundedMap<string, number>(10, 1000);
  m.set("a", 1, 0).set("b", 2, 500).set("c", 3, 900);
  assert.deepEqual([...m.values(999)], [1, 2, 3]);
  assert.deepEqual([...m.values(1000)], [2, 3], "a expired at 1000");
});
