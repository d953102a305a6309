/**
 * Category schemas (src/core/event-schemas.ts): which schemas compile, why others are refused,
 * how Ajv's errors become EventErrors with a path into the event, and the compile cache.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  compileEventSchema,
  EventSchemaCache,
  MAX_SCHEMA_ERRORS,
  validateEventData,
  type CompileEventSchemaResult,
  type EventSchemaValidator,
} from "../src/core/event-schemas.js";
import type { EventError } from "../src/core/events.js";

const PARTY = {
  type: "object",
  required: ["host", "path"],
  properties: {
    host: { type: "string", format: "hostname" },
    path: { type: "string", pattern: "^/" },
  },
  additionalProperties: false,
};

function compiled(schema: unknown): EventSchemaValidator {
  const result = compileEventSchema(schema);
  assert.ok(result.ok, `the schema should compile, but: ${result.ok ? "" : result.detail}`);
  return result.validate;
}

function refused(schema: unknown): string {
  const result = compileEventSchema(schema);
  assert.ok(!result.ok, `the schema should be refused: ${JSON.stringify(schema).slice(0, 200)}`);
  return result.detail;
}

/** [field, detail] of each error, for compact comparison. */
function violations(schema: unknown, data: unknown): [string, string][] {
  const errors = validateEventData(compiled(schema), data);
  for (const error of errors) assert.equal(error.code, "schema_violation");
  return errors.map((e: EventError) => [e.field, e.detail]);
}

test("seed 001's data matches a schema for its category", () => {
  assert.deepEqual(violations(PARTY, { host: "www.party.com", path: "/" }), []);
});

test("violations name the path into the event and the rule", () => {
  assert.deepEqual(violations(PARTY, { host: "not a host!", extra: 1 }), [
    ["data.path", "required: must have required property 'path'"],
    ["data.extra", "additionalProperties: must NOT have additional properties"],
    ["data.host", 'format: must match format "hostname"'],
  ]);
  assert.deepEqual(violations(PARTY, { host: "x.com", path: "relative" }), [["data.path", 'pattern: must match pattern "^/"']]);
});

test("paths go into nested objects and arrays: data.a.b[2], odd keys quoted", () => {
  const schema = {
    type: "object",
    properties: {
      cart: {
        type: "object",
        properties: {
          items: { type: "array", items: { type: "object", required: ["sku"], properties: { qty: { type: "integer", minimum: 1 } } } },
        },
      },
      "a.b": { type: "object", properties: { "0": { type: "string" }, "x/y": { type: "string" }, "~t": { type: "string" } } },
      matrix: { type: "array", items: { type: "array", items: { type: "number" } } },
    },
  };
  const data = {
    cart: { items: [{ sku: "a", qty: 1 }, { sku: "b" }, { qty: 0 }] },
    "a.b": { "0": 1, "x/y": 2, "~t": 3 },
    matrix: [[1, 2], [3, "four"]],
  };
  assert.deepEqual(violations(schema, data), [
    ["data.cart.items[2].sku", "required: must have required property 'sku'"],
    ["data.cart.items[2].qty", "minimum: must be >= 1"],
    ['data["a.b"]["0"]', "type: must be string"],
    ['data["a.b"]["x/y"]', "type: must be string"],
    ['data["a.b"]["~t"]', "type: must be string"],
    ["data.matrix[1][1]", "type: must be number"],
  ]);
});

test("an error about data as a whole is field data; enum and const show what is allowed", () => {
  assert.deepEqual(violations({ type: "object", minProperties: 2 }, { a: 1 }), [["data", "minProperties: must NOT have fewer than 2 properties"]]);
  assert.deepEqual(violations({ properties: { size: { enum: ["S", "M", "L"] }, v: { const: 2 } } }, { size: "XL", v: 3 }), [
    ["data.size", 'enum: must be equal to one of the allowed values: "S", "M", "L"'],
    ["data.v", "const: must be equal to constant: 2"],
  ]);
  assert.deepEqual(violations(false, {}), [["data", "false schema: boolean schema is false"]]);
  assert.deepEqual(violations(true, { anything: [1] }), []);
});

test("unevaluatedProperties and dependentRequired (2020-12) work and name the property", () => {
  const schema = {
    type: "object",
    properties: { card: { type: "string" } },
    dependentRequired: { card: ["billing"] },
    unevaluatedProperties: false,
  };
  assert.deepEqual(violations(schema, { card: "4242", other: 1 }), [
    ["data.billing", "dependentRequired: must have property billing when property card is present"],
    ["data.other", "unevaluatedProperties: must NOT have unevaluated properties"],
  ]);
});

test("required is met only by the data's own properties, not Object.prototype's", () => {
  assert.deepEqual(violations({ type: "object", required: ["toString", "constructor"] }, {}), [
    ["data.toString", "required: must have required property 'toString'"],
    ["data.constructor", "required: must have required property 'constructor'"],
  ]);
});

test("errors are all reported but listed up to MAX_SCHEMA_ERRORS, then summed up", () => {
  const errors = validateEventData(compiled({ type: "object", properties: { list: { type: "array", items: { type: "string" } } } }), {
    list: Array.from({ length: 50 }, (_, i) => i),
  });
  assert.equal(MAX_SCHEMA_ERRORS, 20);
  assert.equal(errors.length, 21);
  assert.equal(errors[19]!.field, "data.list[19]");
  assert.deepEqual(errors[20], { code: "schema_violation", field: "data", detail: "and 30 more schema errors; only the first 20 are listed." });
});

test("draft-07 is used when $schema says so; 2020-12 otherwise", () => {
  // `items` as an array is a tuple in draft-07; in 2020-12 it must be a schema (prefixItems).
  const tuple07 = { $schema: "http://json-schema.org/draft-07/schema#", type: "array", items: [{ type: "string" }, { type: "integer" }] };
  assert.deepEqual(violations(tuple07, ["a", "b"]), [["data[1]", "type: must be integer"]]);
  assert.deepEqual(violations({ ...tuple07, $schema: "http://json-schema.org/draft-07/schema" }, ["a", 1]), [], "with or without the #");
  assert.match(refused({ type: "array", items: [{ type: "string" }] }), /not a valid JSON Schema/);
  assert.deepEqual(violations({ $schema: "https://json-schema.org/draft/2020-12/schema", type: "array", prefixItems: [{ type: "string" }] }, [1]), [["data[0]", "type: must be string"]]);
  assert.deepEqual(violations({ $schema: "https://json-schema.org/draft/2020-12/schema#", type: "string" }, "x"), []);
  assert.deepEqual(violations({ $schema: "http://json-schema.org/draft-07/schema#", definitions: { n: { type: "integer" } }, properties: { n: { $ref: "#/definitions/n" } } }, { n: "x" }), [["data.n", "type: must be integer"]]);
});

test("other drafts are refused, naming the two taken", () => {
  for (const draft of ["http://json-schema.org/draft-04/schema#", "https://json-schema.org/draft/2019-09/schema", "https://example.com/my-meta", 7]) {
    assert.match(refused({ $schema: draft, type: "object" }), /Ferry takes "https:\/\/json-schema\.org\/draft\/2020-12\/schema" .* or "http:\/\/json-schema\.org\/draft-07\/schema#"/);
  }
});

test("schemas that do not compile are refused with the reason", () => {
  const cases: [unknown, RegExp][] = [
    [{ type: "objec" }, /^schema is not a valid JSON Schema: schema\/type must be equal to one of the allowed values/],
    [{ type: "object", minLenght: 3 }, /unknown keyword: "minLenght"\. Ferry refuses keywords JSON Schema does not define/],
    [{ type: "object", properties: { a: { type: "string", example: "x" } } }, /unknown keyword: "example"/],
    [{ type: "string", format: "not-a-format" }, /unknown format "not-a-format".*ajv-formats/],
    [{ type: "string", pattern: "(" }, /^schema does not compile: Invalid regular expression/],
    [{ type: "object", required: "host" }, /not a valid JSON Schema: schema\/required must be array/],
    [{ type: "integer", minimum: "1" }, /not a valid JSON Schema/],
    [{ $ref: "#/$defs/missing" }, /\$ref that does not resolve within it/],
    [{ $ref: "other.json" }, /\$ref that does not resolve within it/],
    [[], /must be a JSON Schema object such as .*; got an array/],
    ["{}", /got a string/],
    [null, /got null/],
    [42, /got a number/],
  ];
  for (const [schema, reason] of cases) assert.match(refused(schema), reason, JSON.stringify(schema));
});

test("a $ref to a URL is refused, never fetched; an $id the schema declares is its own", () => {
  for (const ref of ["https://example.com/schema.json", "http://127.0.0.1:1/x#/a", "file:///etc/passwd", "urn:example:thing"]) {
    assert.match(refused({ type: "object", properties: { a: { $ref: ref } } }), /outside itself; Ferry never fetches schemas: put the definition under \$defs/, ref);
  }
  assert.match(refused({ $dynamicRef: "https://example.com/s#meta" }), /never fetches/);
  const own = { $id: "https://example.com/party", $defs: { host: { $id: "https://example.com/host", type: "string" } }, properties: { h: { $ref: "https://example.com/host" }, g: { $ref: "https://example.com/party#/$defs/host" } } };
  assert.deepEqual(violations(own, { h: 1, g: 2 }), [["data.h", "type: must be string"], ["data.g", "type: must be string"]]);
});

test("one schema's $id is never visible to another (accounts are isolated), and may be reused", () => {
  const a = { $defs: { n: { $id: "https://shared.example/n", type: "integer" } }, properties: { v: { $ref: "https://shared.example/n" } } };
  const b = { $defs: { n: { $id: "https://shared.example/n", type: "string" } }, properties: { v: { $ref: "https://shared.example/n" } } };
  const va = compiled(a);
  const vb = compiled(b);
  assert.deepEqual(validateEventData(va, { v: 1 }), []);
  assert.deepEqual(validateEventData(vb, { v: "x" }), []);
  assert.equal(validateEventData(va, { v: "x" }).length, 1);
  assert.match(refused({ properties: { v: { $ref: "https://shared.example/n" } } }), /never fetches/);
  assert.deepEqual(validateEventData(compiled({ $id: "https://same.example/s", type: "object" }), {}), []);
  assert.deepEqual(validateEventData(compiled({ $id: "https://same.example/s", type: "object" }), {}), [], "the same $id again compiles");
});

test("size and depth are bounded", () => {
  assert.match(refused({ type: "object", description: "x".repeat(70_000) }), /is \d+ bytes of JSON; the most is 65536/);
  let deep: Record<string, unknown> = { type: "string" };
  for (let i = 0; i < 40; i++) deep = { type: "array", items: deep };
  assert.match(refused(deep), /nests \d+ levels deep; the most is 32/);
  let ok: Record<string, unknown> = { type: "string" };
  for (let i = 0; i < 10; i++) ok = { type: "array", items: ok };
  compiled(ok);
});

test("many compiles in a row keep working (the Ajv instance is recycled)", () => {
  for (let i = 0; i < 1200; i++) {
    const validate = compiled({ $id: `https://example.com/s${i % 3}`, type: "object", properties: { n: { const: i } } });
    assert.deepEqual(validateEventData(validate, { n: i }), []);
    assert.equal(validateEventData(validate, { n: -1 }).length, 1);
  }
});

test("validation does not change the data (no defaults, no coercion)", () => {
  const data = { n: "1", list: [] as unknown[] };
  const validate = compiled({ type: "object", properties: { n: { type: "integer", default: 5 }, m: { type: "string", default: "x" } } });
  validateEventData(validate, data);
  assert.deepEqual(data, { n: "1", list: [] });
});

test("the cache compiles each (account, category, version) once", () => {
  let compiles = 0;
  const cache = new EventSchemaCache({
    compile: (schema): CompileEventSchemaResult => {
      compiles++;
      return compileEventSchema(schema);
    },
  });
  const source = { accountId: "acct_1", category: "party", version: 1, schema: JSON.stringify(PARTY) };
  const first = cache.get(source);
  assert.ok(first.ok);
  for (let i = 0; i < 100; i++) assert.equal(cache.get({ ...source }), first, "the same compiled schema");
  assert.equal(compiles, 1);
  assert.deepEqual(validateEventData(first.validate, { host: "www.party.com", path: "/" }), []);

  cache.get({ ...source, version: 2, schema: JSON.stringify({ type: "object", required: ["x"] }) });
  cache.get({ ...source, accountId: "acct_2" });
  cache.get({ ...source, category: "party2" });
  assert.equal(compiles, 4, "another version, account or category is another schema");
  const v2 = cache.get({ ...source, version: 2, schema: "ignored: cached" });
  assert.ok(v2.ok);
  assert.equal(validateEventData(v2.validate, {}).length, 1);
  assert.equal(compiles, 4);
});

test("the cache remembers schemas that fail to compile, and stored text that is not JSON", () => {
  let compiles = 0;
  const cache = new EventSchemaCache({
    compile: (schema) => {
      compiles++;
      return compileEventSchema(schema);
    },
  });
  const bad = { accountId: "a", category: "c", version: 1, schema: JSON.stringify({ type: "objec" }) };
  assert.equal(cache.get(bad).ok, false);
  assert.equal(cache.get(bad).ok, false);
  assert.equal(compiles, 1);
  const notJson = cache.get({ ...bad, version: 2, schema: "{nope" });
  assert.deepEqual(notJson, { ok: false, detail: "the stored schema is not JSON." });
});

test("the cache is bounded and forgets a category's versions on request", () => {
  let compiles = 0;
  const cache = new EventSchemaCache({
    max: 3,
    compile: (schema) => {
      compiles++;
      return compileEventSchema(schema);
    },
  });
  const at = (category: string, version = 1) => ({ accountId: "a", category, version, schema: "{}" });
  for (const category of ["c1", "c2", "c3", "c4"]) cache.get(at(category));
  assert.equal(cache.size, 3);
  cache.get(at("c1"));
  assert.equal(compiles, 5, "c1 was evicted and compiled again");

  cache.get(at("c4", 2));
  cache.forget("a", "c4");
  assert.equal(compiles, 6);
  cache.get(at("c4", 2));
  assert.equal(compiles, 7, "forget dropped c4's versions");
  cache.forget("a", "c"); // a prefix of c1..c4 but not a category of theirs
  cache.get(at("c4", 2));
  assert.equal(compiles, 7, "forget drops only the category named");
});
