/** POST /v1/push (and /server/incoming_data) and POST /v1/broadcast: data objects fanned out to destinations. */
import { ERRORS, IDEMPOTENCY_HEADERS, OPEN_OBJECT } from "./common.js";

const TYPE = { type: "string", pattern: "^[A-Za-z0-9_.:-]{1,200}$", description: "The event type destinations subscribe to (event_types).", examples: ["order.created"] } as const;

/** One JSON object, or a non-empty array of up to FERRY_MAX_BATCH. */
export const OBJECTS = {
  oneOf: [OPEN_OBJECT, { type: "array", minItems: 1, items: OPEN_OBJECT }],
  description: "One JSON object, or an array of up to FERRY_MAX_BATCH objects.",
} as const;

export const pushSchema = {
  tags: ["push"],
  summary: "Push data objects to an account's destinations",
  description: "One postback per object and subscribed destination, answered 202 once all are durably queued.",
  headers: IDEMPOTENCY_HEADERS,
  querystring: {
    type: "object",
    properties: {
      account_id: { type: "string", description: "The account, for the admin token; an account token pushes to its own." },
      type: TYPE,
    },
  },
  body: OBJECTS,
  response: {
    202: {
      type: "object",
      required: ["postbacks", "duplicates"],
      properties: {
        postbacks: {
          type: "array",
          items: {
            type: "object",
            required: ["id", "destination_id", "index"],
            properties: { id: { type: "string" }, destination_id: { type: "string" }, index: { type: "integer", description: "The object's place in the body." } },
          },
        },
        duplicates: { type: "array", items: { type: "integer" }, description: "Indexes of objects dropped as duplicates (the account's dedupe_window_ms)." },
      },
    },
    ...ERRORS,
  },
} as const;

export const broadcastSchema = {
  tags: ["push"],
  summary: "Broadcast data objects to every account's destinations subscribed to a type",
  description: "The admin token or the provider token (FERRY_TRIGGER_TOKEN); an account token is 403 admin_only.",
  headers: IDEMPOTENCY_HEADERS,
  querystring: { type: "object", required: ["type"], properties: { type: TYPE } },
  body: OBJECTS,
  response: {
    202: {
      type: "object",
      required: ["id", "postbacks"],
      properties: {
        id: { type: "string", description: "The broadcast's id." },
        postbacks: {
          type: "array",
          items: {
            type: "object",
            required: ["id", "account_id", "destination_id", "index"],
            properties: { id: { type: "string" }, account_id: { type: "string" }, destination_id: { type: "string" }, index: { type: "integer" } },
          },
        },
      },
    },
    ...ERRORS,
  },
} as const;
