/**
 * Accounts (tenants), managed by the admin:
 *   POST   /v1/accounts          {name, email?, website?, external_id?, metadata?, dedupe_window_ms?,
 *                                 strict_event_types?, event_retention_ms?} → 201
 *   GET    /v1/accounts          ?limit=&after= → {"data":[...],"next_after":...}; ?external_id= finds one
 *   GET    /v1/accounts/{id}     the admin, or the account's own token
 *   PATCH  /v1/accounts/{id}     any of the fields above
 *   DELETE /v1/accounts/{id}     with its tokens and destinations → 204
 * `account_name`, which Data Pusher's clients send, is taken as another name for `name`.
 */
import type { FastifyInstance } from "fastify";
import type { AccountPatch } from "../store/port.js";
import { ApiError } from "../core/errors.js";
import type { Account } from "../core/types.js";
import type { Ports } from "../app/ports.js";
import { createAccount, deleteAccount, updateAccount } from "../app/accounts.js";
import { requireAdmin, type TokenCache } from "./auth.js";
import { accessibleAccount, accountNotFound, iso, listPage, parsePage, queryString } from "./common.js";
import { boolField, checkObjectBody, intField, NUL, shown, stringField } from "./validate.js";
import { createAccountSchema, listAccountsSchema, getAccountSchema, patchAccountSchema, deleteAccountSchema } from "./schemas/accounts.js";

const FIELDS = ["name", "account_name", "email", "website", "external_id", "metadata", "dedupe_window_ms", "strict_event_types", "event_retention_ms"] as const;
const EXAMPLE = '{"name":"Acme","email":"ops@acme.example","website":"https://acme.example","metadata":{},"dedupe_window_ms":0}';

const MAX_NAME = 200;
const MAX_METADATA_BYTES = 16 * 1024;
/** Longest duplicate window: 30 days. */
const MAX_DEDUPE_WINDOW_MS = 30 * 24 * 3600 * 1000;
/** Longest event retention an account may set: 100 years (0 keeps them forever). */
const MAX_EVENT_RETENTION_MS = 100 * 365 * 24 * 3600 * 1000;

export function accountView(a: Account): Record<string, unknown> {
  return {
    id: a.id,
    name: a.name,
    email: a.email,
    website: a.website,
    external_id: a.externalId,
    metadata: a.metadata,
    dedupe_window_ms: a.dedupeWindowMs,
    strict_event_types: a.strictEventTypes,
    event_retention_ms: a.eventRetentionMs,
    created_at: iso(a.createdAt),
    updated_at: iso(a.updatedAt),
  };
}

/** The fields of a create or patch body, checked; only those given are set. */
export function parseAccountFields(body: unknown, creating: boolean): AccountPatch {
  const b = checkObjectBody(body, FIELDS, EXAMPLE);
  const patch: AccountPatch = {};
  if (b["name"] !== undefined && b["account_name"] !== undefined && b["name"] !== b["account_name"]) {
    throw new ApiError("invalid_name", "name and account_name are two spellings of one field; send one of them.", { field: "name" });
  }
  const nameField = b["name"] === undefined && b["account_name"] !== undefined ? "account_name" : "name";
  const name = b[nameField];
  if (name !== undefined || creating) {
    // A NUL cannot be stored in Postgres (see NUL in validate.ts).
    if (typeof name !== "string" || name.trim() === "" || name.length > MAX_NAME || name.includes(NUL)) {
      throw new ApiError("invalid_name", `${nameField} must be a non-empty string of at most ${MAX_NAME} characters, without NUL; got ${shown(name)}.`, { field: nameField });
    }
    patch.name = name.trim();
  }
  if (b["email"] !== undefined) {
    const email = stringField(b["email"], "email", 320, true);
    if (email !== null && !/^[^\s@]+@[^\s@]+$/.test(email)) {
      throw new ApiError("invalid_field", `email must be an address such as ops@acme.example (or null); got ${shown(email)}.`, { field: "email" });
    }
    patch.email = email;
  }
  if (b["website"] !== undefined) patch.website = stringField(b["website"], "website", 2048, true);
  if (b["external_id"] !== undefined) patch.externalId = externalIdField(b["external_id"]);
  if (b["metadata"] !== undefined) {
    const metadata = b["metadata"];
    if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) {
      throw new ApiError("invalid_metadata", `metadata must be a JSON object, e.g. {"plan":"pro"}; got ${shown(metadata)}.`, { field: "metadata" });
    }
    const size = Buffer.byteLength(JSON.stringify(metadata));
    if (size > MAX_METADATA_BYTES) {
      throw new ApiError("invalid_metadata", `metadata is ${size} bytes as JSON; the most is ${MAX_METADATA_BYTES}.`, { field: "metadata" });
    }
    patch.metadata = metadata as Record<string, unknown>;
  }
  if (b["dedupe_window_ms"] !== undefined) {
    patch.dedupeWindowMs = intField(b["dedupe_window_ms"], "dedupe_window_ms", 0, MAX_DEDUPE_WINDOW_MS);
  }
  if (b["strict_event_types"] !== undefined) patch.strictEventTypes = boolField(b["strict_event_types"], "strict_event_types");
  if (b["event_retention_ms"] !== undefined) {
    patch.eventRetentionMs = intField(b["event_retention_ms"], "event_retention_ms", 0, MAX_EVENT_RETENTION_MS, true);
  }
  return patch;
}

const MAX_EXTERNAL_ID = 255;

/** An external id: 1 to 255 characters, no control characters (it is shown and matched exactly). */
function externalIdField(value: unknown): string | null {
  if (value === null) return null;
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_EXTERNAL_ID || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new ApiError("invalid_field", `external_id must be a string of 1 to ${MAX_EXTERNAL_ID} characters without control characters (or null); got ${shown(value)}.`, {
      field: "external_id",
    });
  }
  return value;
}

export function accountRoutes(app: FastifyInstance, deps: Ports & { tokenCache: TokenCache }): void {
  const store = deps.stores.accounts;

  app.post("/v1/accounts", { schema: createAccountSchema }, async (request, reply) => {
    requireAdmin(request, "create accounts");
    const fields = parseAccountFields(request.body, true);
    const account = await createAccount(deps, { ...fields, name: fields.name! });
    reply.code(201);
    return accountView(account);
  });

  app.get("/v1/accounts", { schema: listAccountsSchema }, async (request) => {
    requireAdmin(request, "list accounts (an account token may read its own account: GET /v1/accounts/{id})");
    const externalId = queryString(request.query, "external_id");
    if (externalId !== undefined) {
      // One account at most: the same page shape, so a client reads both alike.
      const found = await store.findAccountByExternalId(externalIdField(externalId)!);
      return { data: found ? [accountView(found)] : [], next_after: null };
    }
    return listPage(parsePage(request.query), (page) => store.listAccounts(page), accountView);
  });

  app.get<{ Params: { id: string } }>("/v1/accounts/:id", { schema: getAccountSchema }, async (request) => {
    return accountView(await accessibleAccount(request, store, request.params.id));
  });

  app.patch<{ Params: { id: string } }>("/v1/accounts/:id", { schema: patchAccountSchema }, async (request) => {
    const { id } = request.params;
    // Another account's id is 404, never 403: nothing tells an account which ids exist.
    if (request.caller.kind === "account" && request.caller.accountId !== id) throw accountNotFound(id);
    requireAdmin(request, "change an account");
    return accountView(await updateAccount(deps, id, parseAccountFields(request.body, false)));
  });

  app.delete<{ Params: { id: string } }>("/v1/accounts/:id", { schema: deleteAccountSchema }, async (request, reply) => {
    const { id } = request.params;
    if (request.caller.kind === "account" && request.caller.accountId !== id) throw accountNotFound(id);
    requireAdmin(request, "delete an account");
    await deleteAccount(deps, request.log, id);
    deps.tokenCache.forgetAccount(id);
    return reply.code(204).send();
  });
}
