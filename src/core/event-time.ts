/**
 * Event timestamps: text in, microseconds since the epoch out, and back. Pure.
 *
 * Taken (docs/errors.md, "Events", repeats this for users):
 * - RFC 3339 / ISO 8601 with a zone: `2021-09-26T09:15:27.243860Z`, `...+02:00`, `...-0530`.
 *   `Z` and `z`; offsets `±HH:MM` or `±HHMM` (the basic form, as Python's `%z` writes it), hours
 *   00–23 and minutes 00–59 as RFC 3339's grammar allows. `-00:00` is UTC.
 * - Without a zone, read as UTC (seed 001 sends `2021-09-26 09:15:27.243860`: "Time-Zone is
 *   consistent because no zone is given"): `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DDTHH:MM:SS`.
 * - The date and time separator is `T`, `t` or one space. Seconds are required; a fraction has 1
 *   to 6 digits after a `.`. More than 6 digits are refused, even trailing zeros: a sender that
 *   writes nanoseconds would otherwise pass or fail depending on its clock's last digits.
 * - Refused: impossible dates (2021-02-30, 2021-02-29), hour 24, second 60 (a leap second has no
 *   microsecond count of its own since the epoch), a date alone, zone names (`UTC`, `CET`),
 *   surrounding spaces, numbers (epoch seconds or milliseconds are ambiguous).
 * - Years 0000 to 9999 (4 digits), once moved to UTC too. Date.parse is never used: it takes
 *   "2021-02-30" and much else; the calendar is checked here.
 *
 * Precision: EventTimeUs is a double, exact for every microsecond within ±2^53 µs of the epoch
 * (1684-07-28 to 2255-06-05, `isExactEventTime`). Beyond, parseEventTime still answers (a query
 * may say `to=9999-12-31T23:59:59Z`) but drops the fraction: whole seconds are exact in every
 * 4-digit year. An event's own timestamp must be exact (parseEvent checks).
 *
 * The canonical form, `formatEventTime`: `2021-09-26T09:15:27.243860Z`, always six fraction
 * digits and `Z`, so equal times have equal text and text sorts as time does.
 */
import { MINUTE } from "./time.js";
import type { EventTimeUs } from "./events.js";

/** How far ahead of Ferry's clock an event's timestamp may be (FERRY_EVENT_MAX_FUTURE_MS). */
export const DEFAULT_EVENT_MAX_FUTURE_MS = 5 * MINUTE;

/** The earliest and latest times kept to the microsecond (±(2^53 − 1) µs). */
export const MIN_EXACT_EVENT_TIME_US = Number.MIN_SAFE_INTEGER;
export const MAX_EXACT_EVENT_TIME_US = Number.MAX_SAFE_INTEGER;

const US_PER_SECOND = 1_000_000;
const SECONDS_PER_DAY = 86_400;
/** 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the whole seconds of 4-digit years. */
const MIN_SECONDS = daysFromCivil(0, 1, 1) * SECONDS_PER_DAY;
const MAX_SECONDS = daysFromCivil(10000, 1, 1) * SECONDS_PER_DAY - 1;

/** Longer text is refused before any regex runs: no timestamp form is longer than 32. */
const MAX_TEXT_LENGTH = 64;

/** Every form taken, in one strict pattern; the calendar is checked after. */
const STRICT =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$/;

export const EVENT_TIME_EXAMPLES =
  '"2021-09-26T09:15:27.243860Z", "2021-09-26T11:15:27.243860+02:00" or "2021-09-26 09:15:27.243860" (no zone: read as UTC)';

export type EventTimeResult = { ok: true; us: EventTimeUs } | { ok: false; detail: string };

/** Reads a timestamp in one of the forms above; `detail` says what is wrong and what to send. */
export function parseEventTime(value: unknown): EventTimeResult {
  if (typeof value !== "string") return fail(`must be a string such as ${EVENT_TIME_EXAMPLES}; got ${describe(value)}.`);
  if (value.length > MAX_TEXT_LENGTH) return fail(`is ${value.length} characters long; a timestamp is at most 32, such as ${EVENT_TIME_EXAMPLES}.`);
  const m = STRICT.exec(value);
  if (!m) return fail(diagnose(value));
  const [, ys, mos, ds, hs, mis, ss, fraction, zulu, sign, ohs, oms] = m as unknown as (string | undefined)[];
  const [year, month, day, hour, minute, second] = [ys, mos, ds, hs, mis, ss].map(Number) as [number, number, number, number, number, number];
  const quoted = JSON.stringify(value);
  if (fraction !== undefined && fraction.length > 6) {
    return fail(`${quoted} has ${fraction.length} fraction digits; at most 6 (microseconds) are kept: send ".${fraction.slice(0, 6)}".`);
  }
  if (month < 1 || month > 12) return fail(`${quoted} has month ${mos}; months are 01 to 12.`);
  const monthDays = daysInMonth(year, month);
  if (day < 1 || day > monthDays) {
    return fail(`${quoted} is not a date: ${ys}-${mos} has days 01 to ${monthDays}${month === 2 && monthDays === 28 ? ` (${ys} is not a leap year)` : ""}.`);
  }
  if (hour > 23) return fail(`${quoted} has hour ${hs}; hours are 00 to 23 (midnight is 00:00:00 of the next day).`);
  if (minute > 59) return fail(`${quoted} has minute ${mis}; minutes are 00 to 59.`);
  if (second === 60) return fail(`${quoted} is a leap second, which has no place in a count of microseconds since the epoch: send 23:59:59.999999 or 00:00:00 of the next day.`);
  if (second > 59) return fail(`${quoted} has second ${ss}; seconds are 00 to 59.`);
  let offsetSeconds = 0;
  if (zulu === undefined && sign !== undefined) {
    const [oh, om] = [Number(ohs), Number(oms)];
    if (oh > 23 || om > 59) return fail(`${quoted} has the offset ${sign}${ohs}:${oms}; offsets are -23:59 to +23:59 (real zones lie within -12:00 and +14:00).`);
    offsetSeconds = (sign === "-" ? -1 : 1) * (oh * 3600 + om * 60);
  }
  const seconds = daysFromCivil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offsetSeconds;
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS) return fail(`${quoted} lies outside the years 0000 to 9999 once moved to UTC.`);
  // seconds × 10^6 = seconds × 15625 × 2^6 is exact for every 4-digit year. Adding the fraction
  // is exact within ±2^53; beyond, it would round (even into the next second), so it is dropped.
  const us = seconds * US_PER_SECOND + Number((fraction ?? "").padEnd(6, "0"));
  return { ok: true, us: Number.isSafeInteger(us) ? us : seconds * US_PER_SECOND };
}

/** Whether every microsecond of `us` is kept: within ±(2^53 − 1) µs of the epoch. */
export function isExactEventTime(us: EventTimeUs): boolean {
  return Number.isSafeInteger(us);
}

/** The canonical form: `2021-09-26T09:15:27.243860Z`. Throws on a value no timestamp parses to. */
export function formatEventTime(us: EventTimeUs): string {
  // % of doubles is exact, so the split into seconds and microseconds is exact at any size.
  const micros = ((us % US_PER_SECOND) + US_PER_SECOND) % US_PER_SECOND;
  const seconds = (us - micros) / US_PER_SECOND;
  if (!Number.isInteger(us) || seconds < MIN_SECONDS || seconds > MAX_SECONDS) {
    throw new RangeError(`not an event time in microseconds within the years 0000 to 9999: ${us}`);
  }
  const secondOfDay = ((seconds % SECONDS_PER_DAY) + SECONDS_PER_DAY) % SECONDS_PER_DAY;
  const [year, month, day] = civilFromDays((seconds - secondOfDay) / SECONDS_PER_DAY);
  const hour = Math.floor(secondOfDay / 3600);
  const minute = Math.floor((secondOfDay % 3600) / 60);
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(secondOfDay % 60, 2)}.${pad(micros, 6)}Z`;
}

/**
 * Why `us` is too far ahead of `nowMs` (Ferry's clock, ms) to be an event's time, or undefined
 * when it is not: at most `maxFutureMs` ahead is taken, for senders' clocks that run fast.
 */
export function futureEventTimeDetail(us: EventTimeUs, nowMs: number, maxFutureMs: number): string | undefined {
  const aheadMs = us / 1000 - nowMs;
  if (aheadMs <= maxFutureMs) return undefined;
  return (
    `${formatEventTime(us)} is ${duration(aheadMs)} ahead of Ferry's clock (${formatEventTime(Math.round(nowMs) * 1000)}); ` +
    `at most ${duration(maxFutureMs)} is taken (FERRY_EVENT_MAX_FUTURE_MS). Check the sender's clock, and its zone: ` +
    `a time without a zone is read as UTC, so a local time east of Greenwich looks ahead.`
  );
}

/** The most helpful thing to say about text the strict pattern refused. */
function diagnose(text: string): string {
  const quoted = JSON.stringify(text);
  const expected = `send a form such as ${EVENT_TIME_EXAMPLES}`;
  if (text === "") return `is empty; ${expected}.`;
  if (text.trim() !== text) return `${quoted} has spaces around it; ${expected}.`;
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return `${quoted} is a date without a time of day; send "${text}T00:00:00Z" for midnight UTC.`;
  if (/^\d+(\.\d+)?$/.test(text)) return `${quoted} is a bare number; epoch seconds and milliseconds are not taken (which one would be a guess): ${expected}.`;
  if (/^\d{5,}-/.test(text)) return `${quoted} has a year of more than 4 digits; years are 0000 to 9999.`;
  if (/^\d{1,4}-\d{1,2}-\d{1,2}(?:[Tt ]|$)/.test(text) && !/^\d{4}-\d{2}-\d{2}/.test(text)) {
    return `${quoted} must write the date as YYYY-MM-DD, every part zero-padded (2021-09-05); ${expected}.`;
  }
  const date = /^\d{4}-\d{2}-\d{2}([Tt ]*)(.*)$/.exec(text);
  if (!date) return `${quoted} is not a timestamp; ${expected}.`;
  const [, separator, rest] = date as unknown as [string, string, string];
  if (separator.length !== 1) return `${quoted} must separate the date and the time with one "T" or one space; ${expected}.`;
  if (/^\d{1,2}:\d{1,2}(?::\d{1,2})?/.test(rest) && !/^\d{2}:\d{2}(?::\d{2}|(?=[^:\d]|$))/.test(rest)) {
    return `${quoted} must write the time as HH:MM:SS, every part zero-padded (09:05:07); ${expected}.`;
  }
  if (/^\d{2}:\d{2}(?![:\d])/.test(rest)) return `${quoted} has no seconds; write the time as HH:MM:SS (09:15:00).`;
  const zone = /^\d{2}:\d{2}:\d{2}(?:[.,]\d*)?(.*)$/.exec(rest)?.[1];
  if (zone === undefined) return `${quoted} has no time of day as HH:MM:SS after the date; ${expected}.`;
  if (/^,/.test(rest.slice(8))) return `${quoted} separates the fraction with ","; use "." (09:15:27.243860).`;
  if (/^\.(?!\d)/.test(rest.slice(8))) return `${quoted} has a "." without digits after it; send 1 to 6 fraction digits or none.`;
  if (/^ \d{2}:?\d{2}$/.test(zone)) {
    return `${quoted} has a space where the offset's sign belongs; in a URL query a "+" reads as a space: send it as %2B (or use Z).`;
  }
  if (/^\s*[A-Za-z]{2,}/.test(zone)) return `${quoted} names a zone; zone names are not taken: send Z or an offset such as +02:00.`;
  if (/^[+-]\d{2}$/.test(zone)) return `${quoted} has an offset of hours alone; write it as ±HH:MM (${zone}:00).`;
  return `${quoted} has ${JSON.stringify(zone.slice(0, 20))} where the zone belongs; the zone is Z, ±HH:MM or ±HHMM, or nothing for UTC.`;
}

function fail(detail: string): EventTimeResult {
  return { ok: false, detail };
}

/** A value as a message names it, its type first. */
function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  const text = JSON.stringify(value) ?? String(value);
  const kind = Array.isArray(value) ? "an array" : typeof value === "object" ? "an object" : `a ${typeof value}`;
  return `${kind}, ${text.length > 60 ? text.slice(0, 60) + "…" : text}`;
}

function duration(ms: number): string {
  if (ms >= MINUTE && ms % 1000 === 0) {
    const minutes = ms / MINUTE;
    return `${Number.isInteger(minutes) ? minutes : minutes.toFixed(1)} min`;
  }
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s` : `${Math.round(ms)} ms`;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Days from 1970-01-01 to a date of the proleptic Gregorian calendar (year 0 is 1 BC), by
 * Howard Hinnant's algorithm: Date.UTC reads years 0–99 as 1900–1999.
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

/** The inverse of daysFromCivil: [year, month, day]. */
function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const dayOfEra = z - era * 146097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36524) - Math.floor(dayOfEra / 146096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day];
}
