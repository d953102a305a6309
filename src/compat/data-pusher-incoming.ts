/**
 * Data Pusher's /server/incoming_data: data for an account, sent to every destination of the
 * account through Ferry's push use case (one postback per object and destination; GET
 * destinations get the object's fields as query parameters, the others a JSON body, each with
 * the destination's headers). Three forms:
 *   POST {"account_id","secret_token","data"}            Data Pusher's own
 *   GET  ?account_id=&secret_token=&data=<JSON object>    Data Pusher's own (without data=, the
 *                                                         other query parameters are the object)
 *   POST <the data itself>, token in CL-X-TOKEN or Authorization (?account_id= for the admin):
 *        what /server/incoming_data took before this module, kept
 * A POST body is the first form when it has `secret_token`, or when account_id and data are its
 * only fields. Answered 200 `{"status":true}` as Data Pusher did, with Ferry's postback ids added
 * (`postbacks`, `duplicates`), once every postback is durably queued. An Idempotency-Key header
 * works as on /v1/push.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ApiError } from "../core/errors.js";
import type { PushResult } from "../app/push.js";
import { parsePushBody, queuePush } from "../api/push.js";
import { idempotency } from "../api/idempotency.js";
import { queryString } from "../api/common.js";
import { MAX_JSON_DEPTH, nestsDeeperThan } from "../api/json-depth.js";
import { checkObjectBody, shown } from "../api/validate.js";
import { authenticate, bodyToken, callerAccount, idField, type DataPusherDeps } from "./data-pusher-common.js";

const PATH = "/server/incoming_data";
const BODY_FORM = ["account_id", "secret_token", "data"] as const;
/** Query parameters that are not data in the GET form without `data=`. */
const NOT_DATA = new Set(["account_id", "secret_token"]);

/** A push worked out from the request before the handler runs. */
interface Incoming {
  accountId: string;
  objects: Record<string, unknown>[];
}

/** Set by the preValidation hook, taken by the handler. */
const incoming = new WeakMap<FastifyRequest, Incoming>();

export async function incomingDataRoutes(app: FastifyInstance, deps: DataPusherDeps): Promise<void> {
  await app.register(async (scope) => {
    // Authenticated and parsed before the Idempotency-Key check, which scopes keys by caller.
    scope.addHook("preValidation", async (request) => {
      // The token first: without a valid one the answer is 401, whatever else is wrong.
      const token = request.method === "GET" ? queryString(request.query, "secret_token") : bodyToken(request.body);
      request.caller = (await authenticate(deps, request, token)).caller;
      const given = request.method === "GET" ? fromQuery(request) : fromBody(request);
      const account = await callerAccount(deps, request.caller, given.accountId);
      incoming.set(request, { accountId: account.id, objects: parseData(given.data, deps.config.max_batch, given.from) });
    });
    idempotency(scope, { stores: deps.stores, queue: deps.queue, ttlMs: deps.config.idempotency_ttl_ms, errorType: "application/json" });
    const handler = async (request: FastifyRequest) => {
      const { accountId, objects } = incoming.get(request)!;
      const view = (result: PushResult) => ({ status: true, ...result });
      return view(await queuePush(deps, request, { accountId, type: undefined, objects }, { status: 200, view }));
    };
    scope.post(PATH, handler);
    scope.get(PATH, handler);
  });
}

/** What a request gives: `from` says where `data` came from, for the messages. */
interface Given {
  from: "data" | "body" | "query";
  accountId: string | undefined;
  data: unknown;
}

function fromBody(request: FastifyRequest): Given {
  const body = request.body;
  const record = body !== null && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
  const keys = record ? Object.keys(record) : [];
  const bodyForm = record !== undefined && ("secret_token" in record || (keys.length === 2 && "account_id" in record && "data" in record));
  if (!bodyForm) {
    // The whole body is the data; the token is in a header.
    return { from: "body", accountId: queryString(request.query, "account_id"), data: body };
  }
  const b = checkObjectBody(record, BODY_FORM, '{"account_id":"acct_…","secret_token":"ferry_live_…","data":{"order_id":42}}');
  if (b["data"] === undefined) throw new ApiError("invalid_data", 'data is missing: send the object to push as "data", e.g. {"order_id":42}.', { field: "data" });
  return { from: "data", accountId: idField(b["account_id"], "account_id"), data: b["data"] };
}

function fromQuery(request: FastifyRequest): Given {
  const query = (request.query ?? {}) as Record<string, unknown>;
  const accountId = queryString(query, "account_id");
  const text = queryString(query, "data");
  if (text !== undefined) {
    // As a body is (src/api/app.ts), before anything recurses over it.
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
      throw new ApiError("too_deep", `data nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep; flatten it to at most ${MAX_JSON_DEPTH} levels.`, { field: "data" });
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new ApiError("invalid_data", `data must be a JSON object, URL-encoded (e.g. data=%7B%22order_id%22%3A42%7D); got ${shown(text)}.`, { field: "data" });
    }
    return { from: "query", accountId, data };
  }
  // No data=: the other parameters are the object, each value a string.
  const data: Record<string, string> = {};
  for (const name of Object.keys(query)) if (!NOT_DATA.has(name)) data[name] = queryString(query, name)!;
  if (Object.keys(data).length === 0) {
    throw new ApiError("invalid_data", "There is no data: give data=<a JSON object, URL-encoded>, or the fields as query parameters (?order_id=42&…).", { field: "data" });
  }
  return { from: "query", accountId, data };
}

/** The objects to push; `from` names where they came from. */
function parseData(data: unknown, maxBatch: number, from: Given["from"]): Record<string, unknown>[] {
  if (from === "data" || from === "query") {
    if (data === null || typeof data !== "object") {
      throw new ApiError("invalid_data", `data must be a JSON object (or a non-empty array of them), e.g. {"order_id":42}; got ${shown(data)}.`, { field: "data" });
    }
    try {
      return parsePushBody(data, maxBatch);
    } catch (err) {
      // The same faults, named as data's.
      if (err instanceof ApiError && err.code !== "too_many_items") throw new ApiError("invalid_data", `data: ${err.message}`, { field: err.field ? `data${err.field}` : "data" });
      throw err;
    }
  }
  return parsePushBody(data, maxBatch);
}
