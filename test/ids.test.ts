import { test } from "node:test";
import assert from "node:assert/strict";
import { isPostbackId, newPostbackId } from "../src/core/ids.js";

test("postback ids: well formed, unique, sorted within and across milliseconds", () => {
  const ids: string[] = [];
  for (let ms = 1_700_000_000_000; ms < 1_700_000_000_000 + 500; ms++) for (let i = 0; i < 20; i++) ids.push(newPostbackId(ms));
  for (const id of ids) assert.ok(isPostbackId(id), id);
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual([...ids].sort(), ids);
});

test("postback ids: the random part draws on all 32 characters, evenly (the pooled bytes are used, not one value)", () => {
  // The first ULID character after the 10 of time is the first random one: a new millisecond
  // draws it afresh. 6,400 draws over 32 characters: each near 200.
  const counts = new Map<string, number>();
  for (let ms = 1_800_000_000_000; ms < 1_800_000_000_000 + 6400; ms++) {
    const c = newPostbackId(ms)[3 + 10]!;
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  assert.equal(counts.size, 32);
  for (const [c, n] of counts) assert.ok(n > 120 && n < 290, `${c}: ${n}`);
});
