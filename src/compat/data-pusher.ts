/**
 * Data Pusher (seed 002) as its own clients know it, switched on by FERRY_COMPAT=data-pusher.
 * A thin layer over Ferry's use cases (src/app): accounts, destinations and pushes are Ferry's
 * own, so the SSRF guard, the destination policy, tenant isolation and the delivery pipeline
 * are the ones every other way in goes through.
 *
 *   POST   /account/   {account_name, email, website?}       admin      → the account, with secret_token
 *   GET    /account/   ?account_id=                          admin/own  → {"status":true,"data":{…}} (a page of all without it)
 *   PATCH  /account/   {account_id, secret_token, account_name?, email?, website?}
 *   DELETE /account/   {account_id, secret_token}
 *   POST   /destination/ {account_id, url, http_method, headers}
 *   GET    /destination/ ?account_id=
 *   PATCH  /destination/ {destination_id, url?, http_method?, headers?}
 *   DELETE /destination/ {destination_id}
 *   POST   /server/incoming_data, GET /server/incoming_data   (data-pusher-incoming.ts)
 *
 * Every answer is Data Pusher's envelope, `{"status":true,…}` or `{"status":false,"message":…}`,
 * with a real HTTP status (Data Pusher answered 200 to everything) and, on errors, Ferry's
 * stable `code`. The token is, as in Data Pusher, the `secret_token` of the body (or of the
 * query on a GET) when one is given; else the `CL-X-TOKEN` or `Authorization: Bearer` header. It
 * may be the account's token or the admin token; another account's token is answered as if the
 * account (or destination) did not exist, 404, so nothing reveals which ids exist.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ApiError } from "../core/errors.js";
import type { Account, Destination, HttpMethod } from "../core/types.js";
import { createAccount, deleteAccount, updateAccount } from "../app/accounts.js";
import { checkDestinationPolicy, deleteDestination, findDestination, maxTimeoutFor, registerDestination, updateDestination } from "../app/destinations.js";
import { derivedTokenState, deriveAccountToken, ensureDerivedToken } from "../app/derived-tokens.js";
import type { Caller } from "../api/auth.js";
import { parseAccountFields } from "../api/accounts.js";
import { parseDestinationUrl, parseHeaders } from "../api/destinations.js";
import { parsePage, queryString } from "../api/common.js";
import { checkObjectBody, parseMethod } from "../api/validate.js";
import { incomingDataRoutes } from "./data-pusher-incoming.js";
import { authenticate, bodyToken, callerAccount, envelopeError, idField, type DataPusherAuth, type DataPusherDeps } from "./data-pusher-common.js";
import type { CompatDeps } from "./index.js";

/**
 * The account's `secret_token`: HMAC-SHA256(admin token, PURPOSE + account id), an ordinary
 * account token of which Ferry keeps only the hash. Data Pusher stored the secret itself and
 * showed it on every GET /account/; Ferry never stores a token, but the admin presents the key
 * on every GET, so the same token is worked out again and shown, and `ensureDerivedToken` makes
 * sure it exists (an account made with POST /v1/accounts gets one on its first GET by id). Revoked,
 * it is not made again: GET shows null and says so. Only the admin token can work it out; should
 * the admin token change, GET shows (and makes) a new one, and the old one stays valid until it
 * is revoked.
 */
const SECRET_PURPOSE = "data-pusher:";
const SECRET_NAME = "data-pusher secret_token";

/** Data Pusher's paths: its clients call them with the trailing slash, Django's form; without it works too. */
const ACCOUNT_PATHS = ["/account/", "/account"];
const DESTINATION_PATHS = ["/destination/", "/destination"];

export async function dataPusherRoutes(app: FastifyInstance, deps: CompatDeps): Promise<void> {
  app.setErrorHandler(envelopeError);
  accountRoutes(app, deps);
  destinationRoutes(app, deps);
  await incomingDataRoutes(app, deps);
}

/** The object body of a request, with only `known` fields. */
function bodyOf(request: FastifyRequest, known: readonly string[], example: string): Record<string, unknown> {
  return checkObjectBody(request.body ?? {}, known, example);
}

// ---------------------------------------------------------------------------------------------
// /account/

const CREATE_ACCOUNT = ["account_name", "email", "website"] as const;
const CHANGE_ACCOUNT = ["account_id", "secret_token", "account_name", "email", "website"] as const;

/**
 * An account as Data Pusher showed it, `secret_token` included (see SECRET_PURPOSE). One account
 * asked for by id gets its secret token made when it has none; a listing only shows those made.
 */
async function accountView(deps: DataPusherDeps, auth: DataPusherAuth, a: Account, make: boolean): Promise<Record<string, unknown>> {
  return { account_id: a.id, account_name: a.name, email: a.email, website: a.website, ...(await secretToken(deps, auth, a, make)) };
}

async function secretToken(deps: DataPusherDeps, auth: DataPusherAuth, a: Account, make: boolean): Promise<Record<string, unknown>> {
  if (auth.caller.kind !== "admin") {
    return { secret_token: null, secret_token_message: "secret_token is shown to the admin token only: it is worked out from the admin token, never stored." };
  }
  const token = deriveAccountToken(auth.token, SECRET_PURPOSE + a.id);
  const state = make ? await ensureDerivedToken(deps, a.id, token, SECRET_NAME) : await derivedTokenState(deps, a.id, token);
  if (state === "live") return { secret_token: token };
  if (state === "none") {
    return { secret_token: null, secret_token_message: `No secret_token yet (the account was not made here, or under another admin token); GET /account/?account_id=${a.id} makes it.` };
  }
  return {
    secret_token: null,
    secret_token_message: `This account's secret_token was revoked; make it a new token with POST /v1/accounts/${a.id}/tokens (the admin token).`,
  };
}

function accountRoutes(app: FastifyInstance, deps: DataPusherDeps): void {
  const store = deps.stores.accounts;
  for (const path of ACCOUNT_PATHS) {
    app.post(path, async (request) => {
      const auth = await authenticate(deps, request, undefined);
      if (auth.caller.kind !== "admin") throw new ApiError("admin_only", "Only the admin token may create accounts; this request carries an account token.");
      const body = bodyOf(request, CREATE_ACCOUNT, '{"account_name":"acme","email":"ops@acme.example","website":"https://acme.example"}');
      // Data Pusher required the name and the email; Ferry's own API requires only the name.
      if (body["account_name"] === undefined) throw new ApiError("invalid_name", "account_name is required.", { field: "account_name" });
      if (body["email"] === undefined) throw new ApiError("invalid_field", "email is required, e.g. ops@acme.example.", { field: "email" });
      const fields = parseAccountFields(body, true);
      const account = await createAccount(deps, { ...fields, name: fields.name! });
      return { status: true, message: "Account Created Successfully", data: await accountView(deps, auth, account, true) };
    });

    app.get(path, async (request) => {
      const auth = await authenticate(deps, request, queryString(request.query, "secret_token"));
      const accountId = queryString(request.query, "account_id");
      if (accountId !== undefined || auth.caller.kind === "account") {
        return { status: true, data: await accountView(deps, auth, await callerAccount(deps, auth.caller, accountId), true) };
      }
      // All of them, a page at a time (Data Pusher listed every account in one answer).
      const page = parsePage(request.query);
      const accounts = await store.listAccounts({ after: page.after, limit: page.limit + 1 });
      const shown = accounts.slice(0, page.limit);
      const data = [];
      for (const account of shown) data.push(await accountView(deps, auth, account, false));
      return { status: true, data, next_after: accounts.length > page.limit ? shown[shown.length - 1]!.id : null };
    });

    app.patch(path, async (request) => {
      const { caller } = await authenticate(deps, request, bodyToken(request.body));
      const body = bodyOf(request, CHANGE_ACCOUNT, '{"account_id":"acct_…","secret_token":"ferry_live_…","email":"new@acme.example"}');
      const account = await callerAccount(deps, caller, requiredId(body, "account_id"));
      const { account_id: _id, secret_token: _token, ...changes } = body;
      await updateAccount(deps, account.id, parseAccountFields(changes, false));
      return { status: true, message: "Updated Successfully" };
    });

    app.delete(path, async (request) => {
      const { caller } = await authenticate(deps, request, bodyToken(request.body));
      const body = bodyOf(request, ["account_id", "secret_token"], '{"account_id":"acct_…","secret_token":"ferry_live_…"}');
      const account = await callerAccount(deps, caller, requiredId(body, "account_id"));
      await deleteAccount(deps, request.log, account.id);
      // Its tokens stop working here at once (other processes: within the token cache's time).
      deps.tokenCache.forgetAccount(account.id);
      return { status: true, message: "Deleted Successfully" };
    });
  }
}

/** An id the body must have: missing_account_id, or invalid_field for destination_id. */
function requiredId(body: Record<string, unknown>, field: "account_id" | "destination_id"): string {
  const id = idField(body[field], field);
  if (id !== undefined) return id;
  if (field === "account_id") throw new ApiError("missing_account_id", "account_id is required (acct_…, as POST /account/ answered).", { field });
  throw new ApiError("invalid_field", "destination_id is required (dst_…, as POST /destination/ answered).", { field });
}

// ---------------------------------------------------------------------------------------------
// /destination/

const CREATE_DESTINATION = ["account_id", "url", "http_method", "headers", "secret_token"] as const;
const CHANGE_DESTINATION = ["destination_id", "url", "http_method", "headers", "secret_token"] as const;
const DESTINATION_EXAMPLE = '{"account_id":"acct_…","url":"https://partner.example/hook","http_method":"POST","headers":{"APP_ID":"1234"}}';

/** A destination as Data Pusher listed it: its model's fields. */
function destinationView(d: Destination): Record<string, unknown> {
  return { id: d.id, account: d.accountId, url: d.url, http_method: d.method, headers: d.headers };
}

/** url, http_method and headers of a body, checked; only those given are set (all but headers when creating). */
function destinationFields(body: Record<string, unknown>, creating: boolean): { url?: string; method?: HttpMethod; headers?: Record<string, string> } {
  const out: { url?: string; method?: HttpMethod; headers?: Record<string, string> } = {};
  if (body["url"] !== undefined || creating) out.url = parseDestinationUrl(body["url"]);
  if (creating && body["http_method"] === undefined) {
    throw new ApiError("invalid_method", "http_method is required: GET, POST, PUT, PATCH or DELETE.", { field: "http_method" });
  }
  if (body["http_method"] !== undefined) out.method = parseMethod(body["http_method"], "http_method", "POST");
  if (body["headers"] !== undefined) out.headers = parseHeaders(body["headers"]);
  return out;
}

function destinationRoutes(app: FastifyInstance, deps: DataPusherDeps): void {
  const maxTimeoutMs = maxTimeoutFor(deps.config.lease_ms);
  const policy = (caller: Caller) => ({ admin: caller.kind === "admin", maxTimeoutMs });
  /** The destination, when the caller may touch it: another account's is 404, as an unknown one. */
  const destinationOf = (caller: Caller, id: string) => findDestination(deps, id, caller.kind === "account" ? caller.accountId : undefined);

  for (const path of DESTINATION_PATHS) {
    app.post(path, async (request) => {
      const { caller } = await authenticate(deps, request, bodyToken(request.body));
      const body = bodyOf(request, CREATE_DESTINATION, DESTINATION_EXAMPLE);
      const account = await callerAccount(deps, caller, idField(body["account_id"], "account_id"));
      const fields = destinationFields(body, true);
      checkDestinationPolicy(fields, policy(caller));
      const { destination } = await registerDestination(deps, request.log, account.id, { ...fields, method: fields.method!, url: fields.url! });
      return { status: true, message: "Destination Created Successfully", data: destinationView(destination) };
    });

    app.get(path, async (request) => {
      const { caller } = await authenticate(deps, request, queryString(request.query, "secret_token"));
      const account = await callerAccount(deps, caller, queryString(request.query, "account_id"));
      return { status: true, data: (await deps.stores.accounts.accountDestinations(account.id)).map(destinationView) };
    });

    app.patch(path, async (request) => {
      const { caller } = await authenticate(deps, request, bodyToken(request.body));
      const body = bodyOf(request, CHANGE_DESTINATION, '{"destination_id":"dst_…","url":"https://partner.example/new"}');
      const current = await destinationOf(caller, requiredId(body, "destination_id"));
      const fields = destinationFields(body, false);
      checkDestinationPolicy(fields, policy(caller));
      const updated = await updateDestination(deps, request.log, current, fields);
      return { status: true, message: "Updated Successfully", data: destinationView(updated) };
    });

    app.delete(path, async (request) => {
      const { caller } = await authenticate(deps, request, bodyToken(request.body));
      const body = bodyOf(request, ["destination_id", "secret_token"], '{"destination_id":"dst_…"}');
      await deleteDestination(deps, request.log, await destinationOf(caller, requiredId(body, "destination_id")));
      return { status: true, message: "Deleted Successfully" };
    });
  }
}
