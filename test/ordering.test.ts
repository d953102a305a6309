/**
 * Which line a postback joins (src/core/ordering.ts): the rule from a destination's ordering.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_RENDERED_KEY, ORDER_KEY_SEPARATOR, orderKeyRule } from "../src/core/ordering.js";
import type { Ordering } from "../src/core/types.js";

const ID = "dst_01JABCDEF";
const rule = (ordering: Ordering, orderingKey: string | null = null) => orderKeyRule({ id: ID, ordering, orderingKey });
const keyed = (rendered: string) => ID + ORDER_KEY_SEPARATOR + rendered;

test('"none" has no rule: nothing to compute per postback', () => {
  assert.equal(rule("none"), undefined);
});

test('"destination": every postback in the destination\'s one line, whatever its data', () => {
  const lineOf = rule("destination")!;
  assert.equal(lineOf({ session_id: "s1" }), ID);
  assert.equal(lineOf({}), ID);
});

test('"key" defaults to {session_id}, rendered after the destination id', () => {
  const lineOf = rule("key")!;
  assert.equal(lineOf({ session_id: "s-1" }), keyed("s-1"));
  assert.equal(lineOf({ session_id: 42 }), keyed("42"));
  assert.notEqual(lineOf({ session_id: "a" }), lineOf({ session_id: "b" }));
});

test('"key" renders its template as URL templates do: nested fields, several fields, encoding', () => {
  assert.equal(rule("key", "{user.id}")!({ user: { id: "u 1" } }), keyed("u%201"));
  assert.equal(rule("key", "{tenant}:{user_id}")!({ tenant: "t", user_id: 7 }), keyed("t:7"));
  // One field present is enough: the missing one renders empty.
  assert.equal(rule("key", "{tenant}:{user_id}")!({ user_id: 7 }), keyed(":7"));
});

test('"key" whose placeholders are all missing or null: no line, the postback goes freely', () => {
  const lineOf = rule("key", "{tenant}:{user_id}")!;
  assert.equal(lineOf({}), undefined);
  assert.equal(lineOf({ tenant: null, other: "x" }), undefined);
  assert.equal(rule("key")!({ client_id: "c" }), undefined);
});

test("lines of two destinations never share a name, even for the same key", () => {
  const a = orderKeyRule({ id: "dst_A", ordering: "key", orderingKey: "{k}" })!;
  const b = orderKeyRule({ id: "dst_B", ordering: "key", orderingKey: "{k}" })!;
  const destinationWide = orderKeyRule({ id: "dst_A", ordering: "destination", orderingKey: null })!;
  assert.notEqual(a({ k: "1" }), b({ k: "1" }));
  assert.notEqual(a({ k: "" }), destinationWide({}), "an empty rendering is still a key line, not the destination's");
});

test('"key" longer than MAX_RENDERED_KEY is kept as its SHA-256: bounded, and still one line per key', () => {
  const lineOf = rule("key", "{user_id}")!;
  const long = "u".repeat(MAX_RENDERED_KEY + 1);
  const line = lineOf({ user_id: long })!;
  assert.match(line, new RegExp(`^${ID}${ORDER_KEY_SEPARATOR}sha256:[0-9a-f]{64}$`));
  assert.equal(lineOf({ user_id: long }), line);
  assert.notEqual(lineOf({ user_id: long + "x" }), line);
  // At the bound, the key is kept as it is.
  assert.equal(lineOf({ user_id: "u".repeat(MAX_RENDERED_KEY) }), keyed("u".repeat(MAX_RENDERED_KEY)));
});
