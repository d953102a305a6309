/**
 * Schema parts every route shares: the problem+json error, ids in the path, paging, times.
 * Plain JSON Schema objects (`as const`), read by fastify and by @fastify/swagger for the
 * OpenAPI document (src/api/openapi.ts). Objects Ferry passes through unread (data objects,
 * metadata, headers) are open: `additionalProperties: true`.
 */

/** Every error Ferry answers: RFC 9457 problem details with Ferry's `code` (docs/errors.md). */
export const PROBLEM_SCHEMA = {
  $id: "Problem",
  type: "object",
  description: "An error, as application/problem+json (RFC 9457). `code` is stable; docs/errors.md lists every one.",
  required: ["type", "title", "status", "code", "detail"],
  properties: {
    type: { type: "string", description: "urn:ferry:error:<code>", examples: ["urn:ferry:error:invalid_url"] },
    title: { type: "string", description: "What the code means, the same for every error of that code." },
    status: { type: "integer", description: "The HTTP status." },
    code: { type: "string", description: "Ferry's stable error code.", examples: ["invalid_url"] },
    detail: { type: "string", description: "What went wrong with this request, and what to fix." },
    field: { type: "string", description: "The field, query parameter or header at fault, when one is." },
  },
  // Some codes add members (invalid_events adds `events`; the compat modules their systems' own).
  additionalProperties: true,
} as const;

/** A reference to a shared schema (registered once, a component of the OpenAPI document). */
export const ref = <T extends { $id: string }>(schema: T) => ({ $ref: `${schema.$id}#` }) as { $ref: `${T["$id"]}#` };

const problem = (description: string) =>
  ({ description, content: { "application/problem+json": { schema: { $ref: "Problem#" } } } }) as const;

/** The error answers of a route with a token: 4xx for the caller's mistake, 5xx for Ferry's or a backend's. */
export const ERRORS = {
  "4xx": problem("The request cannot be carried out as sent (a bad field, no token, not found, …): problem+json naming the code."),
  "5xx": problem("Ferry or a backend failed (store_unavailable and queue_unavailable carry Retry-After): problem+json."),
} as const;

/** An answer with no body. */
export const NO_CONTENT = { type: "null", description: "Done; no body." } as const;

export const TIME = { type: "string", format: "date-time" } as const;
export const NULLABLE_TIME = { type: ["string", "null"], format: "date-time" } as const;
export const NULLABLE_STRING = { type: ["string", "null"] } as const;

/** Any JSON object, kept whole. */
export const OPEN_OBJECT = { type: "object", additionalProperties: true } as const;

/** `{ id }` in the path. */
export const ID_PARAMS = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", maxLength: 100 } },
} as const;

/** `?limit=&after=` of a listing. */
export const PAGE_QUERY = {
  limit: { type: "integer", minimum: 1, maximum: 100, default: 50, description: "Items per page." },
  after: { type: "string", maxLength: 100, description: "The next_after of the page before." },
} as const;

/** `?account_id=`: the account the admin acts for (an account token acts for its own). */
export const ACCOUNT_ID_QUERY = {
  account_id: { type: "string", description: "The account, for the admin token; an account token acts on its own (another's is 404)." },
} as const;

/** A page of a listing: the items, and the `after` of the next page (null on the last). */
export function pageOf<T extends object>(item: T, description: string) {
  return {
    type: "object",
    description,
    required: ["data", "next_after"],
    properties: {
      data: { type: "array", items: item },
      next_after: { type: ["string", "null"], description: "Pass as ?after= for the next page; null on the last page." },
    },
  } as const;
}

/** The Idempotency-Key header the ways data comes in take. */
export const IDEMPOTENCY_HEADERS = {
  type: "object",
  properties: {
    "idempotency-key": {
      type: "string",
      description: "Sent again with the same body, the request is answered as the first time, and nothing is queued twice.",
    },
  },
} as const;
