/** /v1/events and /v1/sessions (seed 001): events stored, and queried by session, category, name and time. */
import { ref, ACCOUNT_ID_QUERY, ERRORS, ID_PARAMS, IDEMPOTENCY_HEADERS, OPEN_OBJECT, TIME } from "./common.js";

const tags = ["events"] as const;

const EVENT_TIME = {
  type: "string",
  description: "RFC 3339 in UTC with six fraction digits, e.g. 2021-09-26T09:15:27.243860Z.",
  examples: ["2021-09-26T09:15:27.243860Z"],
} as const;

/** An event as it is sent. Each is checked on its own; its errors come back in its place. */
export const EVENT_IN = {
  $id: "EventIn",
  type: "object",
  required: ["session_id", "category", "name", "timestamp"],
  properties: {
    id: { type: "string", description: "Your id for the event: sent again, it is stored once (created: false)." },
    session_id: { type: "string" },
    category: { type: "string", maxLength: 100, description: "A registered event type's schema checks data." },
    name: { type: "string" },
    data: OPEN_OBJECT,
    timestamp: { type: "string", description: "RFC 3339, or 2021-09-26 09:15:27.243860 (UTC).", examples: ["2021-09-26 09:15:27.243860"] },
  },
  additionalProperties: false,
} as const;

export const EVENT = {
  $id: "Event",
  type: "object",
  required: ["id", "client_id", "session_id", "category", "name", "data", "timestamp", "received_at"],
  properties: {
    id: { type: "string" },
    client_id: { type: ["string", "null"], description: "The id the client gave it, if any." },
    session_id: { type: "string" },
    category: { type: "string" },
    name: { type: "string" },
    data: OPEN_OBJECT,
    timestamp: EVENT_TIME,
    received_at: TIME,
  },
} as const;

const EVENT_ERROR = {
  type: "object",
  required: ["code", "field", "detail"],
  properties: { code: { type: "string" }, field: { type: "string" }, detail: { type: "string" } },
} as const;

/** Per event, in order: its id (stored), its errors (refused), or `stored: false` (an atomic batch refused). */
const OUTCOME = {
  type: "object",
  required: ["index"],
  properties: {
    index: { type: "integer" },
    id: { type: "string" },
    created: { type: "boolean", description: "false when an event with this id was stored before." },
    errors: { type: "array", items: EVENT_ERROR },
    stored: { type: "boolean", const: false },
    detail: { type: "string" },
  },
} as const;

const OUTCOMES = { type: "object", required: ["events"], properties: { events: { type: "array", items: OUTCOME } } } as const;

export const sendEventsSchema = {
  tags,
  summary: "Store events",
  description: "201 all stored; 202 some stored, some not (each event's errors in its place); 422 invalid_events none stored. ?atomic=true: all or none.",
  headers: IDEMPOTENCY_HEADERS,
  querystring: { type: "object", properties: { ...ACCOUNT_ID_QUERY, atomic: { type: "boolean", default: false } } },
  body: { oneOf: [ref(EVENT_IN), { type: "array", minItems: 1, items: ref(EVENT_IN) }], description: "One event, or an array of up to FERRY_MAX_BATCH." },
  response: { 201: OUTCOMES, 202: OUTCOMES, ...ERRORS },
} as const;

const FILTERS = {
  session_id: { type: "string" },
  category: { type: "string" },
  name: { type: "string" },
  from: { type: "string", description: "Inclusive; RFC 3339 or 2021-09-26 00:00:00." },
  to: { type: "string", description: "Exclusive." },
  limit: { type: "integer", minimum: 1, maximum: 1000, default: 100 },
  after: { type: "string", description: "The next_after of the page before, unchanged." },
} as const;

const EVENT_PAGE = {
  type: "object",
  required: ["data", "next_after"],
  properties: { data: { type: "array", items: ref(EVENT) }, next_after: { type: ["string", "null"] } },
} as const;

export const listEventsSchema = {
  tags,
  summary: "Query events",
  description: "Ordered by timestamp, then arrival.",
  querystring: { type: "object", properties: { ...ACCOUNT_ID_QUERY, ...FILTERS } },
  response: { 200: EVENT_PAGE, ...ERRORS },
} as const;

export const queryEventsSchema = {
  tags,
  summary: "Query events, the filters as a JSON body",
  querystring: { type: "object", properties: ACCOUNT_ID_QUERY },
  body: {
    type: ["object", "null"],
    properties: { ...ACCOUNT_ID_QUERY, ...FILTERS, limit: { type: ["integer", "string"], description: "1 to 1000; 100 when absent." } },
    additionalProperties: false,
  },
  response: { 200: EVENT_PAGE, ...ERRORS },
} as const;

export const getEventSchema = {
  tags,
  summary: "An event",
  params: ID_PARAMS,
  querystring: { type: "object", properties: ACCOUNT_ID_QUERY },
  response: { 200: ref(EVENT), ...ERRORS },
} as const;

export const SESSION = {
  $id: "Session",
  type: "object",
  required: ["session_id", "count", "first_timestamp", "last_timestamp"],
  properties: { session_id: { type: "string" }, count: { type: "integer" }, first_timestamp: EVENT_TIME, last_timestamp: EVENT_TIME },
} as const;

export const getSessionSchema = {
  tags,
  summary: "A session's events in time order, with its count and first and last times",
  params: ID_PARAMS,
  querystring: { type: "object", properties: { ...ACCOUNT_ID_QUERY, limit: FILTERS.limit, after: FILTERS.after } },
  response: {
    200: {
      type: "object",
      required: [...SESSION.required, "events", "next_after"],
      properties: { ...SESSION.properties, events: { type: "array", items: ref(EVENT) }, next_after: { type: ["string", "null"] } },
    },
    ...ERRORS,
  },
} as const;

export const listSessionsSchema = {
  tags,
  summary: "Sessions active in a time range",
  querystring: {
    type: "object",
    properties: { ...ACCOUNT_ID_QUERY, from: FILTERS.from, to: FILTERS.to, name: FILTERS.name, limit: FILTERS.limit, after: FILTERS.after },
  },
  response: {
    200: { type: "object", required: ["data", "next_after"], properties: { data: { type: "array", items: ref(SESSION) }, next_after: { type: ["string", "null"] } } },
    ...ERRORS,
  },
} as const;
