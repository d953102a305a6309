/** The delivery log: a postback and its attempts, search, roll-ups, and sending again. */
import { ref, ACCOUNT_ID_QUERY, ERRORS, ID_PARAMS, NULLABLE_STRING, NULLABLE_TIME, PAGE_QUERY, TIME, pageOf } from "./common.js";
import { HTTP_METHOD } from "./destinations.js";

const tags = ["postbacks"] as const;

const STATE = { type: "string", enum: ["pending", "failed", "delivered", "dead", "held", "cancelled"] } as const;

export const ATTEMPT = {
  $id: "Attempt",
  type: "object",
  required: ["attempt", "started_at", "duration_ms", "url", "status_code", "error", "error_message", "response_body"],
  properties: {
    attempt: { type: "integer" },
    started_at: TIME,
    duration_ms: { type: "number" },
    url: { type: "string" },
    status_code: { type: ["integer", "null"] },
    error: { type: ["string", "null"], description: "An attempt error code (docs/errors.md) when no HTTP answer came." },
    error_message: NULLABLE_STRING,
    response_body: { type: ["string", "null"], description: "The start of the destination's answer." },
  },
} as const;

export const POSTBACK = {
  $id: "Postback",
  type: "object",
  required: ["id", "state", "endpoint", "data", "created_at", "updated_at", "next_attempt_at", "reason", "attempts"],
  properties: {
    id: { type: "string" },
    state: STATE,
    endpoint: {
      type: "object",
      required: ["method", "url", "default", "max_attempts"],
      properties: {
        method: HTTP_METHOD,
        url: { type: "string" },
        default: { type: "string" },
        max_attempts: { type: "integer" },
        destination_id: { type: "string", description: "When the postback came from a push to a destination." },
      },
    },
    data: { type: "object", additionalProperties: true, description: "The data object, as sent." },
    created_at: TIME,
    updated_at: NULLABLE_TIME,
    next_attempt_at: NULLABLE_TIME,
    reason: NULLABLE_STRING,
    attempts: { type: "array", items: ref(ATTEMPT) },
  },
} as const;

export const getPostbackSchema = {
  tags,
  summary: "A postback's state and every attempt made",
  params: ID_PARAMS,
  response: { 200: ref(POSTBACK), ...ERRORS },
} as const;

export const LOG_ITEM = {
  $id: "PostbackSummary",
  type: "object",
  required: ["id", "state", "account_id", "destination_id", "created_at", "updated_at", "attempts", "last_attempt"],
  properties: {
    id: { type: "string" },
    state: STATE,
    account_id: NULLABLE_STRING,
    destination_id: NULLABLE_STRING,
    created_at: TIME,
    updated_at: NULLABLE_TIME,
    attempts: { type: "integer" },
    last_attempt: {
      type: ["object", "null"],
      properties: {
        at: TIME,
        status_code: { type: ["integer", "null"] },
        error: NULLABLE_STRING,
        duration_ms: { type: ["number", "null"] },
        url: NULLABLE_STRING,
      },
    },
  },
} as const;

const TIME_QUERY = { type: "string", description: 'ISO 8601, e.g. "2026-11-23T10:00:00Z" (no zone: UTC).' } as const;

export const searchPostbacksSchema = {
  tags,
  summary: "Search the delivery log, newest first",
  querystring: {
    type: "object",
    properties: {
      ...ACCOUNT_ID_QUERY,
      ...PAGE_QUERY,
      destination_id: { type: "string" },
      state: { type: "string", enum: ["pending", "failed", "delivered", "dead", "held", "cancelled"] },
      status_code: { type: "integer", minimum: 100, maximum: 599 },
      q: { type: "string", maxLength: 200, description: "Text in the id, URL or error." },
      since: TIME_QUERY,
      until: TIME_QUERY,
    },
  },
  response: { 200: pageOf(ref(LOG_ITEM), "A page of postbacks."), ...ERRORS },
} as const;

const STATS_QUERY = {
  type: "object",
  properties: {
    ...ACCOUNT_ID_QUERY,
    bucket: { type: "string", enum: ["minute", "hour"], default: "hour" },
    since: { ...TIME_QUERY, description: "24 hours before until when absent." },
    until: { ...TIME_QUERY, description: "Now when absent." },
  },
} as const;

const LATENCY = {
  type: ["object", "null"],
  description: "Delivery latency percentiles in ms; null with no deliveries.",
  properties: { p50: { type: "number" }, p95: { type: "number" }, p99: { type: "number" } },
  additionalProperties: true,
} as const;

const STATS = {
  buckets: {
    type: "array",
    items: {
      type: "object",
      required: ["start", "delivered", "retry", "dead", "cancelled", "held"],
      properties: {
        start: TIME,
        delivered: { type: "integer" },
        retry: { type: "integer" },
        dead: { type: "integer" },
        cancelled: { type: "integer" },
        held: { type: "integer" },
      },
    },
  },
  latency_ms: LATENCY,
} as const;

export const destinationStatsSchema = {
  tags,
  summary: "A destination's roll-up per time bucket",
  params: ID_PARAMS,
  querystring: STATS_QUERY,
  response: {
    200: {
      type: "object",
      required: ["destination_id", "enabled", "disabled_reason", "queue_depth", "last_error", "buckets", "latency_ms"],
      properties: {
        destination_id: { type: "string" },
        enabled: { type: "boolean" },
        disabled_reason: NULLABLE_STRING,
        queue_depth: { type: "integer" },
        last_error: {
          type: ["object", "null"],
          properties: { at: TIME, status_code: { type: ["integer", "null"] }, error: NULLABLE_STRING },
        },
        ...STATS,
      },
    },
    ...ERRORS,
  },
} as const;

export const statsSchema = {
  tags,
  summary: "The roll-up of every destination (or one account's) per time bucket",
  querystring: STATS_QUERY,
  response: {
    200: {
      type: "object",
      required: ["buckets", "latency_ms", "queue"],
      properties: {
        ...STATS,
        queue: {
          type: "object",
          required: ["ready", "waiting"],
          properties: { ready: { type: "integer" }, waiting: { type: "integer", description: "Waiting for a later time, or leased." } },
        },
      },
    },
    ...ERRORS,
  },
} as const;

export const retryPostbackSchema = {
  tags,
  summary: "Send a failed or dead postback again",
  params: ID_PARAMS,
  response: {
    202: {
      type: "object",
      required: ["id", "state", "outcome"],
      properties: { id: { type: "string" }, state: { type: "string", const: "pending" }, outcome: { type: "string", description: "What the postback was: failed or dead." } },
    },
    ...ERRORS,
  },
} as const;

const REPLAY_TIME = { type: ["string", "integer"], description: 'ISO 8601 ("2026-11-23T00:00:00Z") or whole ms since the epoch.' } as const;

export const replayDestinationSchema = {
  tags,
  summary: "Send again every failed postback of a destination in a time range",
  params: ID_PARAMS,
  body: { type: "object", required: ["since"], properties: { since: REPLAY_TIME, until: { ...REPLAY_TIME, description: "Now when absent." } }, additionalProperties: false },
  response: {
    202: {
      type: "object",
      required: ["destination_id", "since", "until", "replayed", "skipped"],
      properties: { destination_id: { type: "string" }, since: TIME, until: TIME, replayed: { type: "integer" }, skipped: { type: "integer" } },
      additionalProperties: true,
    },
    ...ERRORS,
  },
} as const;
