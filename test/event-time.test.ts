/**
 * Event timestamps (src/core/event-time.ts): every form taken, the canonical form, exact
 * microseconds, the calendar, and what each refusal says.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_EVENT_MAX_FUTURE_MS,
  formatEventTime,
  futureEventTimeDetail,
  isExactEventTime,
  MAX_EXACT_EVENT_TIME_US,
  MIN_EXACT_EVENT_TIME_US,
  parseEventTime,
} from "../src/core/event-time.js";

/** The microseconds `text` parses to; fails the test when it is refused. */
function us(text: string): number {
  const result = parseEventTime(text);
  assert.ok(result.ok, `${JSON.stringify(text)} should parse, but: ${result.ok ? "" : result.detail}`);
  return result.us;
}

/** The canonical form of `text`. */
function canonical(text: string): string {
  return formatEventTime(us(text));
}

/** The refusal's detail; fails the test when `value` parses. */
function refusal(value: unknown): string {
  const result = parseEventTime(value);
  assert.ok(!result.ok, `${JSON.stringify(value)} should be refused, but parsed to ${result.ok ? result.us : ""}`);
  return result.detail;
}

test("seed 001's timestamp reads as UTC and comes back in the canonical form, to the microsecond", () => {
  assert.equal(us("2021-09-26 09:15:27.243860"), 1632647727243860);
  assert.equal(canonical("2021-09-26 09:15:27.243860"), "2021-09-26T09:15:27.243860Z");
});

test("every accepted form of the same instant gives the same microseconds", () => {
  const want = 1632647727243860;
  for (const text of [
    "2021-09-26 09:15:27.243860",
    "2021-09-26T09:15:27.243860",
    "2021-09-26t09:15:27.243860",
    "2021-09-26T09:15:27.243860Z",
    "2021-09-26T09:15:27.243860z",
    "2021-09-26 09:15:27.243860Z",
    "2021-09-26T09:15:27.24386Z",
    "2021-09-26T09:15:27.243860+00:00",
    "2021-09-26T09:15:27.243860-00:00",
    "2021-09-26T09:15:27.243860+0000",
    "2021-09-26T11:15:27.243860+02:00",
    "2021-09-26T11:15:27.243860+0200",
    "2021-09-26T04:45:27.243860-04:30",
    "2021-09-26T04:45:27.243860-0430",
    "2021-09-26T23:15:27.243860+14:00",
    "2021-09-25T21:15:27.243860-12:00",
  ]) {
    assert.equal(us(text), want, text);
  }
});

test("fractions of 1 to 6 digits are kept exactly; none means .000000", () => {
  const cases: [string, string][] = [
    ["2021-09-26T09:15:27Z", "2021-09-26T09:15:27.000000Z"],
    ["2021-09-26T09:15:27.5Z", "2021-09-26T09:15:27.500000Z"],
    ["2021-09-26T09:15:27.05Z", "2021-09-26T09:15:27.050000Z"],
    ["2021-09-26T09:15:27.123Z", "2021-09-26T09:15:27.123000Z"],
    ["2021-09-26T09:15:27.1234Z", "2021-09-26T09:15:27.123400Z"],
    ["2021-09-26T09:15:27.12345Z", "2021-09-26T09:15:27.123450Z"],
    ["2021-09-26T09:15:27.000001Z", "2021-09-26T09:15:27.000001Z"],
    ["2021-09-26T09:15:27.999999Z", "2021-09-26T09:15:27.999999Z"],
    ["2021-09-26T09:15:27.000000Z", "2021-09-26T09:15:27.000000Z"],
  ];
  for (const [text, want] of cases) assert.equal(canonical(text), want, text);
  assert.equal(us("1970-01-01T00:00:00.000001Z"), 1);
  assert.equal(us("1970-01-01T00:00:00.999999Z") - us("1970-01-01T00:00:00Z"), 999_999);
});

test("the canonical form round-trips: parse(format(us)) is us, at the edges of the calendar", () => {
  for (const text of [
    "1970-01-01T00:00:00.000000Z",
    "1970-01-01T00:00:00.000001Z",
    "1969-12-31T23:59:59.999999Z",
    "1969-12-31T23:59:59.000001Z",
    "1900-02-28T23:59:59.999999Z",
    "1900-03-01T00:00:00.000000Z",
    "1700-01-01T00:00:00.000001Z",
    "2000-02-29T12:34:56.789012Z",
    "2024-02-29T00:00:00.000001Z",
    "2100-02-28T23:59:59.999999Z",
    "2038-01-19T03:14:08.000001Z",
    "2255-06-05T23:47:34.740991Z",
    "1684-07-28T00:12:25.259009Z",
  ]) {
    assert.equal(canonical(text), text, text);
    assert.equal(parseEventTime(formatEventTime(us(text))).ok && us(formatEventTime(us(text))), us(text));
  }
});

test("microsecond values round-trip through the canonical form", () => {
  const values = [0, 1, -1, 999_999, -999_999, 1_000_000, -1_000_001, 1632647727243860, -1632647727243860, MAX_EXACT_EVENT_TIME_US, MIN_EXACT_EVENT_TIME_US];
  // and a spread of pseudo-random instants across the exact range
  let seed = 12345;
  for (let i = 0; i < 2000; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    values.push(Math.floor((seed / 2 ** 31 - 0.5) * 2 * 9e15));
  }
  for (const value of values) {
    const text = formatEventTime(value);
    assert.match(text, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    assert.equal(us(text), value, text);
  }
});

test("the calendar agrees with Date for every day from 1600 to 2400", () => {
  // Date is a fine oracle for days (it is only lenient when parsing text).
  const start = Date.UTC(1600, 0, 1);
  for (let ms = start; ms < Date.UTC(2400, 0, 1); ms += 86_400_000 * 7 + 3_600_000 + 61_000) {
    const expected = new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
    assert.equal(formatEventTime(ms * 1000), expected);
    assert.equal(us(expected), ms * 1000);
  }
});

test("years 0000 and 9999 read and format; beyond the exact range whole seconds stay exact", () => {
  assert.equal(canonical("0000-01-01T00:00:00Z"), "0000-01-01T00:00:00.000000Z");
  assert.equal(canonical("0000-02-29T00:00:00Z"), "0000-02-29T00:00:00.000000Z", "year 0 (1 BC) is a leap year");
  assert.equal(canonical("0099-12-31T23:59:59Z"), "0099-12-31T23:59:59.000000Z", "no 19xx for years below 100");
  assert.equal(canonical("9999-12-31T23:59:59Z"), "9999-12-31T23:59:59.000000Z");
  assert.equal(canonical("9999-12-31 23:59:59"), "9999-12-31T23:59:59.000000Z");
  assert.equal(canonical("9999-12-31T23:59:59.999999Z"), "9999-12-31T23:59:59.000000Z", "the fraction is dropped, never rounded into year 10000");
  assert.equal(canonical("1000-06-15T12:00:00.5Z"), "1000-06-15T12:00:00.000000Z");
  assert.equal(isExactEventTime(us("9999-12-31T23:59:59Z")), false);
  assert.equal(isExactEventTime(us("0000-01-01T00:00:00Z")), false);
  assert.equal(isExactEventTime(us("2021-09-26 09:15:27.243860")), true);
  assert.equal(formatEventTime(MIN_EXACT_EVENT_TIME_US), "1684-07-28T00:12:25.259009Z");
  assert.equal(formatEventTime(MAX_EXACT_EVENT_TIME_US), "2255-06-05T23:47:34.740991Z");
});

test("offsets that move a time out of the years 0000-9999 are refused", () => {
  assert.match(refusal("0000-01-01T00:00:00+00:01"), /outside the years 0000 to 9999/);
  assert.match(refusal("9999-12-31T23:59:59-00:01"), /outside the years 0000 to 9999/);
  assert.equal(canonical("0000-01-01T00:59:59+00:59"), "0000-01-01T00:00:59.000000Z");
});

test("impossible dates and times are refused, saying which part is wrong", () => {
  assert.match(refusal("2021-02-30 00:00:00"), /not a date: 2021-02 has days 01 to 28/);
  assert.match(refusal("2021-02-29T00:00:00Z"), /2021 is not a leap year/);
  assert.match(refusal("1900-02-29T00:00:00Z"), /1900 is not a leap year/);
  assert.equal(canonical("2000-02-29T00:00:00Z"), "2000-02-29T00:00:00.000000Z");
  assert.equal(canonical("2024-02-29 23:59:59.999999"), "2024-02-29T23:59:59.999999Z");
  assert.match(refusal("2021-04-31T00:00:00Z"), /days 01 to 30/);
  assert.match(refusal("2021-09-00T00:00:00Z"), /days 01 to 30/);
  assert.match(refusal("2021-13-01T00:00:00Z"), /month 13; months are 01 to 12/);
  assert.match(refusal("2021-00-01T00:00:00Z"), /month 00/);
  assert.match(refusal("2021-09-26T24:00:00Z"), /hour 24; hours are 00 to 23/);
  assert.match(refusal("2021-09-26T23:60:00Z"), /minute 60/);
  assert.match(refusal("2021-09-26T23:59:61Z"), /second 61/);
  assert.match(refusal("2016-12-31T23:59:60Z"), /leap second/);
  assert.match(refusal("2021-09-26T09:15:27+24:00"), /offsets are -23:59 to \+23:59/);
  assert.match(refusal("2021-09-26T09:15:27+02:60"), /offsets are -23:59/);
});

test("more than 6 fraction digits are refused, trailing zeros too", () => {
  assert.match(refusal("2021-09-26T09:15:27.1234567Z"), /7 fraction digits; at most 6 \(microseconds\).*"\.123456"/);
  assert.match(refusal("2021-09-26T09:15:27.243860000Z"), /9 fraction digits/);
});

test("missing parts, other notations and garbage are refused with the forms expected", () => {
  const cases: [unknown, RegExp][] = [
    ["", /is empty/],
    ["2021-09-26", /date without a time of day; send "2021-09-26T00:00:00Z"/],
    ["2021-09-26T09:15", /has no seconds/],
    ["2021-09-26 09:15Z", /has no seconds/],
    ["2021-09-26T", /no time of day as HH:MM:SS/],
    ["2021-9-26 09:15:27", /YYYY-MM-DD, every part zero-padded/],
    ["21-09-26 09:15:27", /YYYY-MM-DD/],
    ["2021-09-26T9:15:27Z", /HH:MM:SS, every part zero-padded/],
    ["2021-09-26T09:15:7Z", /HH:MM:SS, every part zero-padded/],
    ["2021-09-26  09:15:27", /one "T" or one space/],
    ["2021-09-26T09:15:27,243860Z", /separates the fraction with ","/],
    ["2021-09-26T09:15:27.Z", /"\." without digits/],
    ["2021-09-26T09:15:27 02:00", /in a URL query a "\+" reads as a space: send it as %2B/],
    ["2021-09-26T09:15:27+02", /offset of hours alone; write it as ±HH:MM \(\+02:00\)/],
    ["2021-09-26T09:15:27 UTC", /zone names are not taken/],
    ["2021-09-26T09:15:27 GMT+2", /zone names are not taken/],
    ["2021-09-26T09:15:27CET", /zone names are not taken/],
    ["2021-09-26T09:15:27+2:00", /where the zone belongs; the zone is Z, ±HH:MM or ±HHMM/],
    ["2021-09-26T09:15:27Z+02:00", /where the zone belongs/],
    [" 2021-09-26T09:15:27Z", /spaces around it/],
    ["2021-09-26T09:15:27Z\n", /spaces around it/],
    ["12021-09-26T09:15:27Z", /more than 4 digits/],
    ["-2021-09-26T09:15:27Z", /not a timestamp/],
    ["1632647727", /bare number; epoch seconds and milliseconds are not taken/],
    ["1632647727.243", /bare number/],
    ["garbage", /"garbage" is not a timestamp; send a form such as "2021-09-26T09:15:27\.243860Z"/],
    ["Sun, 26 Sep 2021 09:15:27 GMT", /not a timestamp/],
    ["20210926T091527Z", /not a timestamp/],
    ["2021-09-26T09:15:27.243860Z" + "0".repeat(100), /characters long; a timestamp is at most 32/],
    [1632647727, /must be a string such as .*got a number, 1632647727/],
    [null, /got null/],
    [undefined, /got nothing/],
    [true, /got a boolean/],
    [{ iso: "2021-09-26" }, /got an object/],
    [["2021-09-26"], /got an array/],
  ];
  for (const [value, pattern] of cases) assert.match(refusal(value), pattern, JSON.stringify(value));
});

test("every refusal names a form that is taken", () => {
  for (const value of ["garbage", "", 5, "2021-9-26 09:15:27", "2021-09-26T09:15:27 nope"]) {
    const detail = refusal(value);
    assert.ok(/2021-09-26|HH:MM|Z|YYYY/.test(detail), `${JSON.stringify(value)}: ${detail}`);
  }
});

test("futureEventTimeDetail allows up to maxFutureMs ahead of now and explains the rest", () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  assert.equal(DEFAULT_EVENT_MAX_FUTURE_MS, 5 * 60_000);
  const max = DEFAULT_EVENT_MAX_FUTURE_MS;
  assert.equal(futureEventTimeDetail(now * 1000, now, max), undefined, "now");
  assert.equal(futureEventTimeDetail((now + max) * 1000, now, max), undefined, "exactly the limit");
  assert.equal(futureEventTimeDetail(us("1970-01-01T00:00:00Z"), now, max), undefined, "the past, however far");
  const detail = futureEventTimeDetail((now + max) * 1000 + 1, now, max);
  assert.ok(detail !== undefined, "one microsecond past the limit");
  const twoHours = futureEventTimeDetail(us("2026-01-01 14:00:00"), now, max);
  assert.match(twoHours ?? "", /^2026-01-01T14:00:00\.000000Z is 120 min ahead of Ferry's clock \(2026-01-01T12:00:00\.000000Z\); at most 5 min is taken \(FERRY_EVENT_MAX_FUTURE_MS\)/);
  assert.match(twoHours ?? "", /a time without a zone is read as UTC/);
  assert.equal(futureEventTimeDetail(us("2026-01-01T14:00:00+02:00"), now, max), undefined, "the same local time with its zone");
  assert.equal(futureEventTimeDetail((now + 1000) * 1000, now, 0) !== undefined, true, "0 allows nothing ahead");
});

test("formatEventTime refuses what no timestamp parses to", () => {
  for (const bad of [0.5, NaN, Infinity, -Infinity, us("9999-12-31T23:59:59Z") + 1_000_000, us("0000-01-01T00:00:00Z") - 1_000_000]) {
    assert.throws(() => formatEventTime(bad), RangeError, String(bad));
  }
});
