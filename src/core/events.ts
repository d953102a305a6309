/**
 * Events (seed 001): what a trusted application reports happened in one of its sessions. Ferry
 * stores them for querying by session, category and time, and fans each one out to the
 * account's destinations subscribed to its category.
 *
 * This file holds the shapes every layer shares; parsing and validation live beside them.
 */
import { formatEventTime, futureEventTimeDetail, isExactEventTime, parseEventTime, MAX_EXACT_EVENT_TIME_US, MIN_EXACT_EVENT_TIME_US } from "./event-time.js";

/**
 * An event's own time, to the microsecond: seed 001 sends `2021-09-26 09:15:27.243860`, and a
 * millisecond Date would drop the last three digits. Microseconds since the Unix epoch fit a
 * double exactly until the year 2255.
 */
export type EventTimeUs = number;

/** An event as stored. */
export interface StoredEvent {
  /** `evt_` + ULID, made by Ferry when the event is received: ties in time sort by arrival. */
  id: string;
  accountId: string;
  /** The id the client gave the event, unique per account; null when it gave none. */
  clientId: string | null;
  sessionId: string;
  category: string;
  /** The application that sent it. */
  name: string;
  /** The event's `data` object as JSON text. */
  data: string;
  /** When the event happened, by the sender's clock. */
  timestampUs: EventTimeUs;
  /** When Ferry received it (ms since the epoch): retention counts from here. */
  receivedAt: number;
}

/** A category's JSON Schema for `data`, as registered. */
export interface EventType {
  accountId: string;
  category: string;
  /** The JSON Schema as JSON text. */
  schema: string;
  description: string | null;
  /** 1 for the first schema of the category, one more each time it is replaced. */
  version: number;
  createdAt: number;
  updatedAt: number;
}

// ---------------------------------------------------------------------------------------------
// Reading an incoming event: the shape, its fields and its timestamp. Pure; the category's
// schema is checked apart (event-schemas.ts), once the API has looked it up.

/**
 * The codes of an event's errors, each with what it means (docs/errors.md, "Events", lists them;
 * a test keeps the two in step). They are per event, inside a batch answer, not problem codes.
 */
export const EVENT_ERRORS = {
  invalid_event: "The event is not a JSON object",
  missing_field: "A required field is missing",
  invalid_field: "A field has the wrong type, length or characters",
  unknown_field: "The event has a field Ferry does not know",
  invalid_timestamp: "The timestamp is not in a form Ferry reads, or is not a real time",
  timestamp_in_future: "The timestamp is further ahead of Ferry's clock than allowed",
  unknown_category: "The account takes only registered categories, and this one has no schema",
  schema_violation: "data does not match its category's JSON Schema",
} as const;

export type EventErrorCode = keyof typeof EVENT_ERRORS;

/**
 * One thing wrong with one event. `field` is relative to the event (`session_id`, `data.a.b[2]`),
 * or "" for the event as a whole; `indexedField` prefixes the event's index where errors of
 * several events are listed together.
 */
export interface EventError {
  code: EventErrorCode;
  field: string;
  detail: string;
}

/** An event that passed parseEvent: its fields checked, its time read. */
export interface ParsedEvent {
  sessionId: string;
  category: string;
  name: string;
  data: Record<string, unknown>;
  timestampUs: EventTimeUs;
  /** The event's own `id`, when the client gave one. */
  clientId: string | null;
}

export type ParseEventResult =
  | { ok: true; index: number; event: ParsedEvent }
  | { ok: false; index: number; errors: EventError[] };

export interface ParseEventOptions {
  /** Ferry's clock, ms since the epoch. */
  now: number;
  /** How far ahead of `now` a timestamp may be (FERRY_EVENT_MAX_FUTURE_MS). */
  maxFutureMs: number;
}

/** The fields an event may have; anything else is `unknown_field` (seed 001). */
export const EVENT_FIELDS = ["session_id", "category", "name", "data", "timestamp", "id"] as const;

/**
 * Session ids and categories appear in paths (`/v1/sessions/{id}`, `/v1/event-types/{category}`),
 * where a segment may be 100 characters at most.
 */
export const MAX_SESSION_ID_LENGTH = 100;
export const MAX_CATEGORY_LENGTH = 100;
export const MAX_NAME_LENGTH = 200;
export const MAX_CLIENT_ID_LENGTH = 200;
/** Unknown fields listed one by one per event; more are summed up in one error. */
const MAX_UNKNOWN_FIELDS_LISTED = 10;

/** Printable ASCII without space: ids that read the same in a URL, a log line and a terminal. */
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;
/** As destinations' event_types and pushes' types: so that `order.*` patterns match categories. */
const CATEGORY = /^[A-Za-z0-9_.:-]+$/;
/** C0 and C1 controls and DEL: never part of an application's name. */
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;

const EXAMPLE =
  '{"session_id":"e2085be5-9137-4e4e-80b5-f1ffddc25423","category":"party","name":"AppName","data":{"host":"www.party.com","path":"/"},"timestamp":"2021-09-26 09:15:27.243860"}';

/**
 * Checks one event of a request (`index` is its place in the batch, 0 for a lone event) and
 * reads it; reports every error it has, not only the first.
 */
export function parseEvent(value: unknown, index: number, options: ParseEventOptions): ParseEventResult {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const detail = `An event must be a JSON object such as ${EXAMPLE}; got ${describe(value)}.`;
    return { ok: false, index, errors: [{ code: "invalid_event", field: "", detail }] };
  }
  const record = value as Record<string, unknown>;
  const errors: EventError[] = [];
  const report = (error: EventError | undefined) => {
    if (error) errors.push(error);
  };
  const sessionId = readString(record, "session_id", report, checkSessionId);
  const category = readString(record, "category", report, checkCategory);
  const name = readString(record, "name", report, checkName);
  const data = readData(record, report);
  const timestampUs = readTimestamp(record, options, report);
  // `id` is optional: absent or null (as many clients write an unset optional field) is none.
  const clientId = record["id"] === undefined || record["id"] === null ? null : readString(record, "id", report, checkClientId);
  for (const error of unknownFields(record)) errors.push(error);
  if (errors.length > 0) return { ok: false, index, errors };
  return {
    ok: true,
    index,
    event: { sessionId: sessionId!, category: category!, name: name!, data: data!, timestampUs: timestampUs!, clientId: clientId ?? null },
  };
}

/** An event error's field as a batch answer names it: `[3].timestamp`, or `[3]` for the event. */
export function indexedField(index: number, field: string): string {
  if (field === "") return `[${index}]`;
  return field.startsWith("[") ? `[${index}]${field}` : `[${index}].${field}`;
}

/** The error for an event whose category has no schema, when the account takes only registered ones. */
export function unknownCategoryError(category: string): EventError {
  return {
    code: "unknown_category",
    field: "category",
    detail: `The category ${JSON.stringify(category)} has no schema, and this account takes only registered categories (strict_event_types): register one with PUT /v1/event-types/${category}, or fix the category.`,
  };
}

type Report = (error: EventError | undefined) => void;
/** Why a string is not acceptable for its field (the type is checked already), or undefined. */
type StringCheck = (value: string) => string | undefined;

function readString(record: Record<string, unknown>, field: string, report: Report, check: StringCheck): string | undefined {
  const value = record[field];
  if (value === undefined) {
    report({ code: "missing_field", field, detail: `${field} is missing; an event is ${EXAMPLE}.` });
    return undefined;
  }
  if (typeof value !== "string") {
    report({ code: "invalid_field", field, detail: `${field} must be a string; got ${describe(value)}.` });
    return undefined;
  }
  const problem = check(value);
  if (problem !== undefined) {
    report({ code: "invalid_field", field, detail: `${field} ${problem}` });
    return undefined;
  }
  return value;
}

function checkSessionId(value: string): string | undefined {
  return checkAsciiId(value, MAX_SESSION_ID_LENGTH, "e2085be5-9137-4e4e-80b5-f1ffddc25423");
}

function checkClientId(value: string): string | undefined {
  return checkAsciiId(value, MAX_CLIENT_ID_LENGTH, "a UUID");
}

function checkAsciiId(value: string, max: number, example: string): string | undefined {
  if (value.length === 0 || value.length > max) return `must be 1 to ${max} characters long; got ${value.length}.`;
  if (!PRINTABLE_ASCII.test(value)) {
    return `must be printable ASCII without spaces (such as ${example}); got ${shown(value)}.`;
  }
  return undefined;
}

function checkCategory(value: string): string | undefined {
  if (value.length === 0 || value.length > MAX_CATEGORY_LENGTH || !CATEGORY.test(value)) {
    return `must be 1 to ${MAX_CATEGORY_LENGTH} letters, digits and _ . : - (such as party or checkout.completed); got ${shown(value)}.`;
  }
  return undefined;
}

function checkName(value: string): string | undefined {
  if (value.length === 0 || value.length > MAX_NAME_LENGTH) return `must be 1 to ${MAX_NAME_LENGTH} characters long; got ${value.length}.`;
  if (value.trim() === "") return "is blank; send the name of the application that sent the event.";
  // A lone surrogate cannot be stored as UTF-8: Postgres would refuse it, or a driver replace it.
  if (CONTROL.test(value) || !value.isWellFormed()) {
    return `holds a control character or a lone UTF-16 surrogate; got ${shown(value)}.`;
  }
  return undefined;
}

function readData(record: Record<string, unknown>, report: Report): Record<string, unknown> | undefined {
  const value = record["data"];
  if (value === undefined) {
    report({ code: "missing_field", field: "data", detail: `data is missing; send the event's details as a JSON object, e.g. {"host":"www.party.com","path":"/"} ({} for none).` });
    return undefined;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    report({ code: "invalid_field", field: "data", detail: `data must be a JSON object, e.g. {"host":"www.party.com","path":"/"} ({} for none); got ${describe(value)}.` });
    return undefined;
  }
  return value as Record<string, unknown>;
}

function readTimestamp(record: Record<string, unknown>, options: ParseEventOptions, report: Report): EventTimeUs | undefined {
  const value = record["timestamp"];
  if (value === undefined) {
    report({ code: "missing_field", field: "timestamp", detail: `timestamp is missing; send when the event happened, e.g. "2021-09-26T09:15:27.243860Z" or "2021-09-26 09:15:27.243860" (UTC).` });
    return undefined;
  }
  const parsed = parseEventTime(value);
  if (!parsed.ok) {
    report({ code: "invalid_timestamp", field: "timestamp", detail: `timestamp ${parsed.detail}` });
    return undefined;
  }
  if (!isExactEventTime(parsed.us)) {
    report({
      code: "invalid_timestamp",
      field: "timestamp",
      detail: `timestamp ${JSON.stringify(value)} lies outside the times Ferry keeps to the microsecond, ${formatEventTime(MIN_EXACT_EVENT_TIME_US)} to ${formatEventTime(MAX_EXACT_EVENT_TIME_US)}.`,
    });
    return undefined;
  }
  const future = futureEventTimeDetail(parsed.us, options.now, options.maxFutureMs);
  if (future !== undefined) {
    report({ code: "timestamp_in_future", field: "timestamp", detail: `timestamp ${future}` });
    return undefined;
  }
  return parsed.us;
}

/** One error per field Ferry does not know, with a hint when it looks like a known one. */
function unknownFields(record: Record<string, unknown>): EventError[] {
  const unknown = Object.keys(record).filter((key) => !(EVENT_FIELDS as readonly string[]).includes(key));
  const errors: EventError[] = unknown.slice(0, MAX_UNKNOWN_FIELDS_LISTED).map((key) => {
    const field = key.slice(0, 100);
    const near = EVENT_FIELDS.find((known) => loose(known) === loose(key));
    const hint = near ? ` Did you mean ${near}?` : "";
    return {
      code: "unknown_field",
      field,
      detail: `The event has the field ${JSON.stringify(field)}, which Ferry does not take (unexpected value in payload); the fields are ${EVENT_FIELDS.join(", ")}.${hint}`,
    };
  });
  if (unknown.length > MAX_UNKNOWN_FIELDS_LISTED) {
    errors.push({
      code: "unknown_field",
      field: "",
      detail: `The event has ${unknown.length - MAX_UNKNOWN_FIELDS_LISTED} more fields Ferry does not take; put the event's details inside data.`,
    });
  }
  return errors;
}

/** A field name without case, `_`, `-` or spaces: sessionId and Session-ID read as session_id. */
function loose(key: string): string {
  return key.toLowerCase().replace(/[_\-\s]/g, "");
}

/** A value as a message names it, its type first. */
function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  const kind = Array.isArray(value) ? "an array" : typeof value === "object" ? "an object" : `a ${typeof value}`;
  return `${kind}, ${shown(value)}`;
}

/** A value as a message quotes it: JSON, cut short. */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 100 ? text.slice(0, 100) + "…" : text;
}
