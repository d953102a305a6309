/**
 * pgArray (src/store/postgres-db.ts): an array parameter written as JSON text must reach
 * Postgres as exactly the array pg itself would have sent, whatever the strings hold.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { pgArray } from "../src/store/postgres-db.js";
import { serverUrl } from "./support/postgres.js";

const client = new pg.Client({ connectionString: serverUrl() });
await client.connect();
after(() => client.end());

const tricky = [
  '{"mascot":"Gopher","q":"a\\"b"}', 'back\\slash', 'two\\\\backslashes\\\\n', "\\", '"', "null", "NULL", "", " spaced ", "{braces}", "a,b", "é ü 😀",
  "line\nbreak", "tab\there", "\u0001", "lone \ud800 surrogate", "\u2028", null,
];

test("text arrays arrive as pg would send them, quotes, backslashes, null and 'null' included", async () => {
  for (const values of [tricky, ...tricky.map((v) => [v]), [], [null, null]]) {
    const ours = (await client.query("SELECT $1::text[] AS a", [pgArray(values)])).rows[0].a;
    const theirs = (await client.query("SELECT $1::text[] AS a", [values])).rows[0].a;
    assert.deepEqual(ours, theirs, JSON.stringify(values));
  }
});

test("number arrays arrive as pg would send them, nulls included", async () => {
  const ints = [0, 1, -5, 1_700_000_000_000, null];
  assert.deepEqual((await client.query("SELECT $1::bigint[] AS a", [pgArray(ints)])).rows[0].a, (await client.query("SELECT $1::bigint[] AS a", [ints])).rows[0].a);
  const floats = [1.234, 2e-7, 0.5, null, 1e21];
  assert.deepEqual((await client.query("SELECT $1::float8[] AS a", [pgArray(floats)])).rows[0].a, (await client.query("SELECT $1::float8[] AS a", [floats])).rows[0].a);
});

test("the common case is JSON text; an escape other than \\\" and \\\\ falls back to pg's own", () => {
  assert.equal(pgArray(['{"a":"b\\\\c"}', null, "x"]), '{"{\\"a\\":\\"b\\\\\\\\c\\"}",null,"x"}');
  const control = ["a\nb"];
  assert.equal(pgArray(control), control);
});
