/** POST /ingest and /ingest.php: a URL template and data objects, one postback per object. */
import { ERRORS, IDEMPOTENCY_HEADERS, OPEN_OBJECT } from "./common.js";
import { HTTP_METHOD } from "./destinations.js";

export const ENDPOINT = {
  type: "object",
  required: ["url"],
  properties: {
    method: { ...HTTP_METHOD, default: "GET", description: "In any case." },
    url: {
      type: "string",
      maxLength: 8192,
      description: "An http(s) URL template: {key} is replaced by the data object's value, percent-encoded.",
      examples: ["http://partner.example/data?title={mascot}"],
    },
    default: { type: ["string", "number", "boolean", "null"], description: "The value of a {key} the data object lacks (FERRY_DEFAULT_VALUE when absent)." },
    max_attempts: { type: ["integer", "null"], minimum: 1, maximum: 100, description: "FERRY_MAX_ATTEMPTS when absent." },
  },
  additionalProperties: true,
} as const;

export const ingestSchema = {
  tags: ["ingest"],
  summary: "Queue one postback per data object",
  description: "Answered 202 only once every postback is durably queued. The URL template is checked here as far as it can be without data; each rendering is checked per object.",
  headers: IDEMPOTENCY_HEADERS,
  body: {
    type: "object",
    required: ["endpoint", "data"],
    properties: {
      endpoint: ENDPOINT,
      data: { type: "array", minItems: 1, items: OPEN_OBJECT, description: "At most FERRY_MAX_BATCH objects." },
    },
    additionalProperties: true,
  },
  response: {
    202: {
      type: "object",
      required: ["ids"],
      properties: { ids: { type: "array", items: { type: "string" }, description: "The postbacks' ids, in the order of data." } },
    },
    ...ERRORS,
  },
} as const;
