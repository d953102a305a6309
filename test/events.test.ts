/**
 * Reading an incoming event (parseEvent in src/core/events.ts): seed 001's example, each
 * field's errors, every error of an event at once, and the codes docs/errors.md lists.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  EVENT_ERRORS,
  EVENT_FIELDS,
  indexedField,
  parseEvent,
  unknownCategoryError,
  type EventError,
  type ParseEventOptions,
} from "../src/core/events.js";
import { formatEventTime } from "../src/core/event-time.js";
import { repoPath } from "./support/paths.js";

const NOW = Date.UTC(2026, 10, 29, 12, 0, 0);
const OPTIONS: ParseEventOptions = { now: NOW, maxFutureMs: 5 * 60_000 };

/** Seed 001's example, as sent (but for its stray comma). */
const SEED = {
  session_id: "e2085be5-9137-4e4e-80b5-f1ffddc25423",
  category: "party",
  name: "AppName",
  data: { host: "www.party.com", path: "/" },
  timestamp: "2021-09-26 09:15:27.243860",
};

function errorsOf(value: unknown, options: ParseEventOptions = OPTIONS): EventError[] {
  const result = parseEvent(value, 0, options);
  assert.ok(!result.ok, `expected errors for ${JSON.stringify(value)}`);
  return result.errors;
}

/** The one error of `value`; fails when there are none or several. */
function onlyError(value: unknown): EventError {
  const errors = errorsOf(value);
  assert.equal(errors.length, 1, JSON.stringify(errors));
  return errors[0]!;
}

function withField(field: string, value: unknown): Record<string, unknown> {
  return { ...SEED, [field]: value };
}

function without(field: string): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...SEED };
  delete copy[field];
  return copy;
}

test("seed 001's example is accepted as it is, its timestamp read as UTC to the microsecond", () => {
  const result = parseEvent(JSON.parse(JSON.stringify(SEED)), 3, OPTIONS);
  assert.ok(result.ok, JSON.stringify(result));
  assert.equal(result.index, 3);
  assert.deepEqual(result.event, {
    sessionId: "e2085be5-9137-4e4e-80b5-f1ffddc25423",
    category: "party",
    name: "AppName",
    data: { host: "www.party.com", path: "/" },
    timestampUs: 1632647727243860,
    clientId: null,
  });
  assert.equal(formatEventTime(result.event.timestampUs), "2021-09-26T09:15:27.243860Z");
});

test("an event's own id is kept as clientId", () => {
  const result = parseEvent({ ...SEED, id: "client-42:retry-safe" }, 0, OPTIONS);
  assert.ok(result.ok);
  assert.equal(result.event.clientId, "client-42:retry-safe");
});

test("id null is no id; any other non-string id is invalid_field", () => {
  const result = parseEvent({ ...SEED, id: null }, 0, OPTIONS);
  assert.ok(result.ok);
  assert.equal(result.event.clientId, null);
});

test("indexedField prefixes an event error's field with the event's index", () => {
  assert.equal(indexedField(3, "timestamp"), "[3].timestamp");
  assert.equal(indexedField(0, "data.a[2]"), "[0].data.a[2]");
  assert.equal(indexedField(1, 'data["a.b"]'), '[1].data["a.b"]');
  assert.equal(indexedField(2, ""), "[2]");
});

test("fields at their limits are accepted", () => {
  const result = parseEvent(
    {
      session_id: "s".repeat(100),
      category: "a".repeat(100),
      name: "Ñame ✓ " + "n".repeat(193),
      data: {},
      timestamp: formatEventTime(NOW * 1000 + 5 * 60_000 * 1000),
      id: "~".repeat(200),
    },
    0,
    OPTIONS,
  );
  assert.ok(result.ok, JSON.stringify(result));
  for (const category of ["a", "A.b_c:d-e", "checkout.completed", "0"]) {
    assert.ok(parseEvent(withField("category", category), 0, OPTIONS).ok, category);
  }
  for (const sessionId of ["x", "AbC123-_.~!$&'()*+,;=:@/?#[]%"]) {
    assert.ok(parseEvent(withField("session_id", sessionId), 0, OPTIONS).ok, sessionId);
  }
});

test("something other than an object is invalid_event", () => {
  for (const value of [null, undefined, "event", 42, true, [SEED]]) {
    const error = onlyError(value);
    assert.equal(error.code, "invalid_event");
    assert.equal(error.field, "");
    assert.match(error.detail, /An event must be a JSON object such as \{"session_id"/);
  }
});

test("each missing required field is missing_field, naming it", () => {
  for (const field of ["session_id", "category", "name", "data", "timestamp"]) {
    const error = onlyError(without(field));
    assert.deepEqual({ code: error.code, field: error.field }, { code: "missing_field", field }, field);
    assert.match(error.detail, new RegExp(`^${field} is missing`));
  }
});

test("wrong types are invalid_field, naming the field, what it must be and what came", () => {
  const cases: [string, unknown, RegExp][] = [
    ["session_id", 42, /^session_id must be a string; got a number, 42\.$/],
    ["session_id", null, /^session_id must be a string; got null\.$/],
    ["category", ["party"], /^category must be a string; got an array, \["party"\]\.$/],
    ["name", { app: 1 }, /^name must be a string; got an object/],
    ["id", 7, /^id must be a string; got a number, 7\.$/],
    ["data", "host=x", /^data must be a JSON object, e\.g\. .*; got a string, "host=x"\.$/],
    ["data", [1, 2], /^data must be a JSON object.*got an array, \[1,2\]\.$/],
    ["data", null, /^data must be a JSON object.*got null\.$/],
  ];
  for (const [field, value, detail] of cases) {
    const error = onlyError(withField(field, value));
    assert.deepEqual({ code: error.code, field: error.field }, { code: "invalid_field", field }, `${field} = ${JSON.stringify(value)}`);
    assert.match(error.detail, detail);
  }
});

test("strings of the wrong length or characters are invalid_field, saying what is taken", () => {
  const cases: [string, unknown, RegExp][] = [
    ["session_id", "", /must be 1 to 100 characters long; got 0/],
    ["session_id", "s".repeat(101), /must be 1 to 100 characters long; got 101/],
    ["session_id", "has space", /printable ASCII without spaces/],
    ["session_id", "tab\tid", /printable ASCII without spaces/],
    ["session_id", "sessión", /printable ASCII without spaces/],
    ["category", "", /1 to 100 letters, digits and _ \. : -/],
    ["category", "c".repeat(101), /1 to 100 letters/],
    ["category", "party time", /1 to 100 letters.*got "party time"/],
    ["category", "order.*", /1 to 100 letters/],
    ["category", "party/x", /1 to 100 letters/],
    ["name", "", /must be 1 to 200 characters long; got 0/],
    ["name", "n".repeat(201), /must be 1 to 200 characters long; got 201/],
    ["name", "   ", /is blank/],
    ["name", "App\u0000Name", /control character/],
    ["name", "App\nName", /control character/],
    ["name", "App\u0085Name", /control character/],
    ["name", "App\ud800Name", /lone UTF-16 surrogate/],
    ["id", "", /must be 1 to 200 characters long/],
    ["id", "i".repeat(201), /must be 1 to 200 characters long; got 201/],
    ["id", "has space", /printable ASCII/],
  ];
  for (const [field, value, detail] of cases) {
    const error = onlyError(withField(field, value));
    assert.deepEqual({ code: error.code, field: error.field }, { code: "invalid_field", field }, `${field} = ${JSON.stringify(value)}`);
    assert.match(error.detail, new RegExp(`^${field} `));
    assert.match(error.detail, detail, `${field} = ${JSON.stringify(value)}`);
  }
});

test("a bad timestamp is invalid_timestamp with the parser's reason", () => {
  const cases: [unknown, RegExp][] = [
    ["2021-02-30 09:15:27", /^timestamp "2021-02-30 09:15:27" is not a date/],
    ["yesterday", /^timestamp "yesterday" is not a timestamp; send a form such as/],
    [1632647727, /^timestamp must be a string such as/],
    ["2021-09-26T09:15:27.1234567Z", /at most 6/],
    ["1500-01-01T00:00:00Z", /outside the times Ferry keeps to the microsecond, 1684-07-28T00:12:25\.259009Z to 2255-06-05/],
  ];
  for (const [value, detail] of cases) {
    const error = onlyError(withField("timestamp", value));
    assert.deepEqual({ code: error.code, field: error.field }, { code: "invalid_timestamp", field: "timestamp" });
    assert.match(error.detail, detail);
  }
});

test("a timestamp more than maxFutureMs ahead of now is timestamp_in_future; up to it is taken", () => {
  const at = (ms: number) => withField("timestamp", formatEventTime(ms * 1000));
  assert.ok(parseEvent(at(NOW + 5 * 60_000), 0, OPTIONS).ok);
  const error = onlyError(at(NOW + 5 * 60_000 + 1));
  assert.deepEqual({ code: error.code, field: error.field }, { code: "timestamp_in_future", field: "timestamp" });
  assert.match(error.detail, /^timestamp 2026-11-29T12:05:00\.001000Z is 5\.0 min ahead|^timestamp .* ahead of Ferry's clock/);
  assert.match(error.detail, /FERRY_EVENT_MAX_FUTURE_MS/);
  assert.ok(!parseEvent(at(NOW + 1000), 0, { now: NOW, maxFutureMs: 0 }).ok, "maxFutureMs 0 takes nothing ahead");
  assert.ok(parseEvent(at(NOW + 60 * 60_000), 0, { now: NOW, maxFutureMs: 2 * 60 * 60_000 }).ok, "a larger limit");
});

test("unknown top-level fields are unknown_field each, with a hint for near misses", () => {
  const errors = errorsOf({ ...SEED, extra: 1, sessionId: "x", Timestamp: "y" });
  assert.deepEqual(
    errors.map((e) => [e.code, e.field]),
    [["unknown_field", "extra"], ["unknown_field", "sessionId"], ["unknown_field", "Timestamp"]],
  );
  assert.match(errors[0]!.detail, /unexpected value in payload.*the fields are session_id, category, name, data, timestamp, id\.$/);
  assert.match(errors[1]!.detail, /Did you mean session_id\?$/);
  assert.match(errors[2]!.detail, /Did you mean timestamp\?$/);
});

test("a flood of unknown fields is listed up to 10, then summed up", () => {
  const event: Record<string, unknown> = { ...SEED };
  for (let i = 0; i < 500; i++) event[`f${i}`] = i;
  const errors = errorsOf(event);
  assert.equal(errors.length, 11);
  assert.deepEqual(errors.slice(0, 10).map((e) => e.field), Array.from({ length: 10 }, (_, i) => `f${i}`));
  assert.deepEqual({ code: errors[10]!.code, field: errors[10]!.field }, { code: "unknown_field", field: "" });
  assert.match(errors[10]!.detail, /490 more fields/);
  const long = errorsOf({ ...SEED, ["k".repeat(500)]: 1 });
  assert.equal(long[0]!.field.length, 100, "a field name is cut to 100 characters");
});

test("every error of an event is reported at once, in field order", () => {
  const errors = errorsOf({ session_id: "", category: 5, data: [], timestamp: "2021-02-30 00:00:00", id: "", bogus: true });
  assert.deepEqual(
    errors.map((e) => [e.code, e.field]),
    [
      ["invalid_field", "session_id"],
      ["invalid_field", "category"],
      ["missing_field", "name"],
      ["invalid_field", "data"],
      ["invalid_timestamp", "timestamp"],
      ["invalid_field", "id"],
      ["unknown_field", "bogus"],
    ],
  );
  assert.equal(errorsOf({}).length, 5, "an empty object misses each required field");
});

test("the index given comes back, ok or not", () => {
  assert.equal(parseEvent(SEED, 7, OPTIONS).index, 7);
  assert.equal(parseEvent({}, 8, OPTIONS).index, 8);
});

test("parseEvent neither changes nor keeps a reference to anything but data", () => {
  const input = JSON.parse(JSON.stringify(SEED)) as Record<string, unknown>;
  const before = JSON.stringify(input);
  const result = parseEvent(input, 0, OPTIONS);
  assert.equal(JSON.stringify(input), before);
  assert.ok(result.ok);
  assert.equal(result.event.data, input["data"], "data is the object sent, not a copy");
});

test("unknownCategoryError names the category and how to register it", () => {
  const error = unknownCategoryError("party");
  assert.deepEqual({ code: error.code, field: error.field }, { code: "unknown_category", field: "category" });
  assert.match(error.detail, /PUT \/v1\/event-types\/party/);
  assert.match(error.detail, /strict_event_types/);
});

test("EVENT_FIELDS are exactly seed 001's fields and the client's id", () => {
  assert.deepEqual([...EVENT_FIELDS].sort(), ["category", "data", "id", "name", "session_id", "timestamp"]);
});

// docs/errors.md keeps a table of these codes; it must list each, and only these.
test("docs/errors.md's Events section lists every event error code, and no other", () => {
  const doc = readFileSync(repoPath("docs", "errors.md"), "utf8");
  const start = doc.indexOf("\n## Events\n");
  assert.ok(start >= 0, 'docs/errors.md has a "## Events" section');
  const end = doc.indexOf("\n## ", start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  const documented = [...section.matchAll(/^\|\s*`([a-z_]+)`\s*\|(.*)\|\s*$/gm)].map((m) => ({ code: m[1]!, cells: m[2]!.split("|").map((c) => c.trim()) }));
  const codes = documented.map((d) => d.code);
  assert.deepEqual([...codes].sort(), Object.keys(EVENT_ERRORS).sort(), "the Events table lists exactly EVENT_ERRORS");
  assert.equal(new Set(codes).size, codes.length, "no code is listed twice");
  for (const { code, cells } of documented) {
    assert.equal(cells.length, 2, `\`${code}\`: expected | code | meaning | fix |`);
    assert.ok(cells[0]!.length >= 20 && cells[1]!.length >= 20, `\`${code}\`: say what it means and what to fix`);
  }
});
