/** /v1/event-types: the JSON Schema an account's events of one category must match in data. */
import { ref, ACCOUNT_ID_QUERY, ERRORS, NO_CONTENT, NULLABLE_STRING, PAGE_QUERY, TIME, pageOf } from "./common.js";

const tags = ["event-types"] as const;

const CATEGORY_PARAMS = {
  type: "object",
  required: ["category"],
  properties: { category: { type: "string", pattern: "^[A-Za-z0-9_.:-]{1,100}$", examples: ["party"] } },
} as const;

const QUERY = { type: "object", properties: ACCOUNT_ID_QUERY } as const;

export const EVENT_TYPE = {
  $id: "EventType",
  type: "object",
  required: ["category", "schema", "description", "version", "created_at", "updated_at"],
  properties: {
    category: { type: "string" },
    schema: { type: ["object", "boolean"], additionalProperties: true, description: "The JSON Schema data must match." },
    description: NULLABLE_STRING,
    version: { type: "integer", description: "1, then + 1 at each replacement." },
    created_at: TIME,
    updated_at: TIME,
  },
} as const;

export const putEventTypeSchema = {
  tags,
  summary: "Register or replace a category's schema",
  description: "201 version 1, or 200 replaced (version + 1); a schema that does not compile is 422 invalid_schema.",
  params: CATEGORY_PARAMS,
  querystring: QUERY,
  body: {
    type: "object",
    required: ["schema"],
    properties: {
      schema: { type: ["object", "boolean"], additionalProperties: true, description: "A JSON Schema (draft 2020-12 or 07)." },
      description: { type: ["string", "null"], maxLength: 1000 },
    },
    additionalProperties: false,
  },
  response: { 200: ref(EVENT_TYPE), 201: ref(EVENT_TYPE), ...ERRORS },
} as const;

export const getEventTypeSchema = {
  tags,
  summary: "A category's schema",
  params: CATEGORY_PARAMS,
  querystring: QUERY,
  response: { 200: ref(EVENT_TYPE), ...ERRORS },
} as const;

export const listEventTypesSchema = {
  tags,
  summary: "The account's event types",
  querystring: { type: "object", properties: { ...ACCOUNT_ID_QUERY, ...PAGE_QUERY, after: { type: "string", description: "A category: the next_after of the page before." } } },
  response: { 200: pageOf(ref(EVENT_TYPE), "A page of event types, by category."), ...ERRORS },
} as const;

export const deleteEventTypeSchema = {
  tags,
  summary: "Remove a category's schema",
  params: CATEGORY_PARAMS,
  querystring: QUERY,
  response: { 204: NO_CONTENT, ...ERRORS },
} as const;
