/**
 * What Data Pusher's routes share (data-pusher.ts, data-pusher-incoming.ts): its answer envelope
 * for errors, and who a request is, from the token it presents.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { API_ERRORS, ApiError, type ApiErrorCode } from "../core/errors.js";
import type { Account } from "../core/types.js";
import { bearerToken, callerForToken, type Caller } from "../api/auth.js";
import { mapFastifyError } from "../api/fastify-errors.js";
import { portProblem } from "../api/common.js";
import { shown, stringField } from "../api/validate.js";
import type { CompatDeps } from "./index.js";

/** What the module works with: the ports, the config, the admin token's hash and the token cache. */
export type DataPusherDeps = CompatDeps;

/** What a Data Pusher request authenticated as, and the token it presented. */
export interface DataPusherAuth {
  caller: Caller;
  token: string;
}

/** Errors as Data Pusher answered them, `{"status":false,"message"}`, plus Ferry's code and status. */
export function envelopeError(thrown: FastifyError | ApiError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const err = portProblem(thrown) ?? thrown;
  let code: ApiErrorCode;
  let message: string;
  let field: string | undefined;
  if (err instanceof ApiError) {
    if (err.status >= 500) request.log.error({ err: err.cause ?? err, code: err.code }, err.message);
    ({ code, message, field } = err);
    if (err.headers) reply.headers(err.headers);
  } else {
    const mapped = mapFastifyError(err);
    if (mapped) {
      ({ code, detail: message } = mapped);
    } else {
      // A 5xx: the cause goes to the log, the caller gets a generic message.
      request.log.error({ err, method: request.method, url: request.url }, "unhandled error");
      code = "internal_error";
      message = "Something went wrong on Ferry's side; it has been logged.";
    }
  }
  return reply.code(API_ERRORS[code].status).send({ status: false, message, code, ...(field === undefined ? {} : { field }) });
}

/**
 * Who the request is: the token `given` (the body's or query's `secret_token`) when there is
 * one, else the header's. 401 when there is none or it is not a live token.
 */
export async function authenticate(deps: DataPusherDeps, request: FastifyRequest, given: unknown): Promise<DataPusherAuth> {
  let token: string;
  if (given === undefined) token = bearerToken(request);
  else if (typeof given === "string" && given !== "") token = given;
  else throw new ApiError("invalid_token", `secret_token must be the account's token (a string), as POST /account/ answered it; got ${shown(given)}.`, { field: "secret_token" });
  return { caller: await callerForToken(deps, token), token };
}

/** An id in a body or query: Ferry's are strings (acct_…, dst_…); Data Pusher's numbers are taken, and found by no one. */
export function idField(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "number" && Number.isInteger(value)) return String(value);
  return stringField(value, field, 100, false) ?? undefined;
}

export function accountNotFound(id: string): ApiError {
  return new ApiError(
    "account_not_found",
    `No account ${JSON.stringify(id.slice(0, 100))}. Ferry's account ids are strings such as acct_01…, as POST /account/ answered (Data Pusher's were numbers).`,
    { field: "account_id" },
  );
}

/**
 * The account `accountId` names, when the caller may act on it: the admin on any, an account
 * token on its own. When no id is given an account token means its own; the admin must name one.
 */
export async function callerAccount(deps: DataPusherDeps, caller: Caller, accountId: string | undefined): Promise<Account> {
  if (accountId === undefined) {
    if (caller.kind === "admin") {
      throw new ApiError("missing_account_id", "The admin token acts for no account: give account_id (acct_…).", { field: "account_id" });
    }
    accountId = caller.accountId;
  }
  // Another account's id is 404, as an unknown one is.
  if (caller.kind === "account" && caller.accountId !== accountId) throw accountNotFound(accountId);
  const account = await deps.stores.accounts.getAccount(accountId);
  if (!account) throw accountNotFound(accountId);
  return account;
}

/**
 * The `secret_token` of a body, read before the body is checked, so that a request without a
 * valid token is 401 whatever else is wrong with it.
 */
export function bodyToken(body: unknown): unknown {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return undefined;
  return (body as Record<string, unknown>)["secret_token"];
}
