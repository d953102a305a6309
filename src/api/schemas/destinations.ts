/** /v1/destinations: where an account's pushed data goes. */
import { ref, ACCOUNT_ID_QUERY, ERRORS, ID_PARAMS, NO_CONTENT, NULLABLE_STRING, NULLABLE_TIME, PAGE_QUERY, TIME, pageOf } from "./common.js";

export const HTTP_METHOD = { type: "string", enum: ["GET", "POST", "PUT", "PATCH", "DELETE"] } as const;

const tags = ["destinations"] as const;

/** The fields a create or a patch takes (the handler checks each; docs/errors.md lists the codes). */
const FIELDS = {
  account_id: { type: "string", description: "The account, for the admin token (on create only)." },
  url: { type: "string", maxLength: 8192, description: "An http(s) URL template; {key} takes the pushed object's value.", examples: ["https://partner.example/hook?id={id}"] },
  method: { ...HTTP_METHOD, default: "POST" },
  headers: { type: ["object", "null"], additionalProperties: { type: "string", maxLength: 4096 }, maxProperties: 50, description: "Static headers sent with every postback." },
  event_types: { type: ["array", "null"], maxItems: 100, items: { type: "string", maxLength: 200 }, description: '"order.created", "order.*" or "*"; [] takes every type.' },
  enabled: { type: "boolean", description: "true releases the postbacks held while it was disabled." },
  timeout_ms: { type: ["integer", "null"], minimum: 100, maximum: 120000 },
  max_attempts: { type: ["integer", "null"], minimum: 1, maximum: 100 },
  default_value: { type: ["string", "number", "boolean", "null"], description: "The value of a {key} the object lacks." },
  rate_limit: { type: ["number", "null"], minimum: 0.001, maximum: 100000, description: "Postbacks per second, across all workers together; null for no limit." },
  concurrency: { type: ["integer", "null"], minimum: 1, maximum: 1000 },
  failure_threshold: { type: ["integer", "null"], minimum: 0, maximum: 1000000, description: "Failures within failure_window_ms that disable it; 0 never." },
  failure_window_ms: { type: ["integer", "null"], minimum: 0, maximum: 31536000000 },
  on_disable: { type: "string", enum: ["hold", "drop"] },
  rate_limit_burst: { type: ["integer", "null"], minimum: 1, maximum: 100000, description: "Requests sent at once above rate_limit; null for 1 (evenly spaced)." },
  ordering: { type: "string", enum: ["none", "destination", "key"], description: "Deliver one at a time in the order accepted: per destination, per ordering_key, or not at all (none, the default)." },
  ordering_key: { type: ["string", "null"], maxLength: 200, description: "With ordering \"key\": a {field} template of the data object; null for {session_id}." },
  paused_until: { type: "null", description: "null ends a pause its partner asked for (Retry-After) now." },
} as const;

export const DESTINATION = {
  $id: "Destination",
  type: "object",
  required: [
    "id", "account_id", "url", "method", "headers", "event_types", "enabled", "disabled_reason", "disabled_at", "timeout_ms", "max_attempts",
    "default_value", "rate_limit", "concurrency", "failure_threshold", "failure_window_ms", "on_disable", "rate_limit_burst", "ordering", "ordering_key", "paused_until", "pause_reason",
    "created_at", "updated_at",
  ],
  properties: {
    id: { type: "string" },
    account_id: { type: "string" },
    url: { type: "string" },
    method: HTTP_METHOD,
    headers: { type: "object", additionalProperties: { type: "string" } },
    event_types: { type: "array", items: { type: "string" } },
    enabled: { type: "boolean" },
    disabled_reason: NULLABLE_STRING,
    disabled_at: NULLABLE_TIME,
    timeout_ms: { type: ["integer", "null"] },
    max_attempts: { type: ["integer", "null"] },
    default_value: NULLABLE_STRING,
    rate_limit: { type: ["number", "null"] },
    concurrency: { type: ["integer", "null"] },
    failure_threshold: { type: ["integer", "null"] },
    failure_window_ms: { type: ["integer", "null"] },
    on_disable: { type: "string", enum: ["hold", "drop"] },
    rate_limit_burst: { type: ["integer", "null"] },
    ordering: { type: "string", enum: ["none", "destination", "key"] },
    ordering_key: NULLABLE_STRING,
    paused_until: { ...NULLABLE_TIME, description: "Nothing is sent before this time: its partner answered 429 or 503 with Retry-After." },
    pause_reason: NULLABLE_STRING,
    created_at: TIME,
    updated_at: TIME,
  },
} as const;

/** A destination with its signing secret: on create and on rotation only. */
export const DESTINATION_WITH_SECRET = {
  ...DESTINATION,
  $id: "DestinationWithSecret",
  required: [...DESTINATION.required, "secret"],
  properties: { ...DESTINATION.properties, secret: { type: "string", description: "The Standard Webhooks signing secret (whsec_...)." } },
} as const;

export const createDestinationSchema = {
  operationId: "createDestination",
  tags,
  summary: "Create a destination",
  description: "201 with its signing secret. The same method and URL as one the account has already: that one, re-enabled and updated, 200.",
  body: { type: "object", required: ["url"], properties: FIELDS, additionalProperties: false },
  response: { 200: ref(DESTINATION_WITH_SECRET), 201: ref(DESTINATION_WITH_SECRET), ...ERRORS },
} as const;

export const listDestinationsSchema = {
  operationId: "listDestinations",
  tags,
  summary: "List an account's destinations",
  querystring: { type: "object", properties: { ...ACCOUNT_ID_QUERY, ...PAGE_QUERY } },
  response: { 200: pageOf(ref(DESTINATION), "A page of destinations (never their secrets)."), ...ERRORS },
} as const;

export const getDestinationSchema = {
  operationId: "getDestination",
  tags,
  summary: "A destination (never its secret)",
  params: ID_PARAMS,
  response: { 200: ref(DESTINATION), ...ERRORS },
} as const;

export const patchDestinationSchema = {
  operationId: "patchDestination",
  tags,
  summary: "Change a destination",
  description: "Any field but account_id; enabled: true releases its held postbacks.",
  params: ID_PARAMS,
  body: { type: "object", properties: FIELDS, additionalProperties: false },
  response: { 200: ref(DESTINATION), ...ERRORS },
} as const;

export const deleteDestinationSchema = {
  operationId: "deleteDestination",
  tags,
  summary: "Delete a destination",
  description: "Its held postbacks are cancelled.",
  params: ID_PARAMS,
  response: { 204: NO_CONTENT, ...ERRORS },
} as const;

export const destinationSecretSchema = {
  operationId: "destinationSecret",
  tags,
  summary: "A destination's signing secret",
  params: ID_PARAMS,
  response: { 200: { type: "object", required: ["secret"], properties: { secret: { type: "string" } } }, ...ERRORS },
} as const;

export const rotateSecretSchema = {
  operationId: "rotateSecret",
  tags,
  summary: "Give a destination a new signing secret",
  params: ID_PARAMS,
  response: { 200: ref(DESTINATION_WITH_SECRET), ...ERRORS },
} as const;
