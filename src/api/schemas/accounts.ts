/** /v1/accounts (tenants, managed by the admin) and an account's tokens. */
import { ref, ERRORS, ID_PARAMS, NO_CONTENT, NULLABLE_STRING, NULLABLE_TIME, OPEN_OBJECT, PAGE_QUERY, TIME, pageOf } from "./common.js";

const tags = ["accounts"] as const;

const FIELDS = {
  name: { type: "string", minLength: 1, maxLength: 200 },
  account_name: { type: "string", minLength: 1, maxLength: 200, description: "Another name for name (Data Pusher's clients send it)." },
  email: { type: ["string", "null"], maxLength: 320 },
  website: { type: ["string", "null"], maxLength: 2048 },
  external_id: { type: ["string", "null"], minLength: 1, maxLength: 255, description: "Your own id for the account; GET /v1/accounts?external_id= finds it." },
  metadata: { ...OPEN_OBJECT, description: "Any JSON object up to 16 KiB." },
  dedupe_window_ms: { type: "integer", minimum: 0, maximum: 2592000000, description: "Identical pushes within it are dropped; 0 keeps all." },
  strict_event_types: { type: "boolean", description: "Refuse events of a category with no registered schema." },
  event_retention_ms: { type: ["integer", "null"], minimum: 0, maximum: 3153600000000, description: "null: FERRY_EVENT_RETENTION; 0 keeps them forever." },
} as const;

export const ACCOUNT = {
  $id: "Account",
  type: "object",
  required: ["id", "name", "email", "website", "external_id", "metadata", "dedupe_window_ms", "strict_event_types", "event_retention_ms", "created_at", "updated_at"],
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    email: NULLABLE_STRING,
    website: NULLABLE_STRING,
    external_id: NULLABLE_STRING,
    metadata: OPEN_OBJECT,
    dedupe_window_ms: { type: "integer" },
    strict_event_types: { type: "boolean" },
    event_retention_ms: { type: ["integer", "null"] },
    created_at: TIME,
    updated_at: TIME,
  },
} as const;

export const createAccountSchema = {
  tags,
  summary: "Create an account (admin)",
  body: { type: "object", properties: FIELDS, additionalProperties: false },
  response: { 201: ref(ACCOUNT), ...ERRORS },
} as const;

export const listAccountsSchema = {
  tags,
  summary: "List accounts, or find one by external_id (admin)",
  querystring: { type: "object", properties: { ...PAGE_QUERY, external_id: { type: "string", maxLength: 255 } } },
  response: { 200: pageOf(ref(ACCOUNT), "A page of accounts; with external_id, the one found or none."), ...ERRORS },
} as const;

export const getAccountSchema = {
  tags,
  summary: "An account (the admin, or the account's own token)",
  params: ID_PARAMS,
  response: { 200: ref(ACCOUNT), ...ERRORS },
} as const;

export const patchAccountSchema = {
  tags,
  summary: "Change an account (admin)",
  params: ID_PARAMS,
  body: { type: "object", properties: FIELDS, additionalProperties: false },
  response: { 200: ref(ACCOUNT), ...ERRORS },
} as const;

export const deleteAccountSchema = {
  tags,
  summary: "Delete an account with its tokens and destinations (admin)",
  params: ID_PARAMS,
  response: { 204: NO_CONTENT, ...ERRORS },
} as const;

const tokenTags = ["tokens"] as const;

export const TOKEN = {
  $id: "Token",
  type: "object",
  required: ["id", "name", "created_at", "revoked_at"],
  properties: { id: { type: "string" }, name: NULLABLE_STRING, created_at: TIME, revoked_at: NULLABLE_TIME },
} as const;

export const createTokenSchema = {
  tags: tokenTags,
  summary: "Create an account token",
  description: "The secret is shown this once; only its hash is kept. No body at all is fine.",
  params: ID_PARAMS,
  body: { type: ["object", "null"], properties: { name: { type: ["string", "null"], maxLength: 200 } }, additionalProperties: false },
  response: {
    201: {
      type: "object",
      required: ["id", "token", "name", "created_at"],
      properties: { id: { type: "string" }, token: { type: "string", description: "The secret: send it as Authorization: Bearer." }, name: NULLABLE_STRING, created_at: TIME },
    },
    ...ERRORS,
  },
} as const;

export const listTokensSchema = {
  tags: tokenTags,
  summary: "An account's tokens (never their secrets)",
  params: ID_PARAMS,
  response: { 200: { type: "object", required: ["data"], properties: { data: { type: "array", items: ref(TOKEN) } } }, ...ERRORS },
} as const;

export const revokeTokenSchema = {
  tags: tokenTags,
  summary: "Revoke a token",
  description: "It stops working at once in this process, within a few seconds in others.",
  params: { type: "object", required: ["id", "token_id"], properties: { id: { type: "string" }, token_id: { type: "string" } } },
  response: { 204: NO_CONTENT, ...ERRORS },
} as const;
