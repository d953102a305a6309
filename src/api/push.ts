/**
 * POST /v1/push, and POST /server/incoming_data where Data Pusher's clients post (unless
 * FERRY_COMPAT has data-pusher, whose module then owns that path): any JSON object, or an array
 * of them, for an account; the fan-out itself is src/app/push.ts. Answered 202 only once every
 * postback is durably queued.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Config } from "../config.js";
import { ApiError } from "../core/errors.js";
import { QueueUnavailableError } from "../core/port-errors.js";
import type { Ports } from "../app/ports.js";
import { push, type PushRequest, type PushResult } from "../app/push.js";
import { MaybeQueuedError } from "../app/maybe-queued.js";
import { maybeQueued } from "./idempotency.js";
import { queryString, queueUnavailable } from "./common.js";
import { pushSchema } from "./schemas/push.js";

export interface PushDeps extends Ports {
  config: Config;
  /** Told how many postbacks each push queued. */
  onEnqueued?: ((postbacks: number) => void) | undefined;
}

const TYPE = /^[A-Za-z0-9_.:-]{1,200}$/;

/** The objects of a push body; throws ApiError naming the one at fault. */
export function parsePushBody(body: unknown, maxBatch: number): Record<string, unknown>[] {
  const objects = Array.isArray(body) ? body : [body];
  if (body === null || typeof body !== "object" || objects.length === 0) {
    throw new ApiError("invalid_body", 'Send a JSON object, or a non-empty array of objects, e.g. {"order_id": 42}.');
  }
  if (objects.length > maxBatch) {
    throw new ApiError("too_many_items", `The body has ${objects.length} objects; the most in one push is ${maxBatch}. Split it into several pushes.`);
  }
  objects.forEach((item: unknown, i) => {
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      throw new ApiError("invalid_data", `Item ${i} must be a JSON object; got ${item === null ? "null" : Array.isArray(item) ? "an array" : typeof item}.`, { field: `[${i}]` });
    }
  });
  return objects as Record<string, unknown>[];
}

/**
 * Queues a push and tells `onEnqueued`. A queue failure becomes its 503; one that may have
 * queued the postbacks keeps, for an Idempotency-Key retry, the answer `view` makes of the
 * result with `status` (each route answers a push in its own shape).
 */
export async function queuePush(
  deps: PushDeps,
  request: FastifyRequest,
  req: PushRequest,
  answer: { status: number; view: (result: PushResult) => unknown },
): Promise<PushResult> {
  let result;
  try {
    result = await push(deps, deps.config, req);
  } catch (err) {
    if (err instanceof MaybeQueuedError) throw maybeQueued(request, err, answer.status, answer.view(err.result as PushResult));
    if (!(err instanceof QueueUnavailableError)) throw err;
    throw queueUnavailable(err, "The queue could not store the postbacks; nothing was queued. Send the push again shortly (with the same Idempotency-Key, if you gave one).");
  }
  if (result.postbacks.length) deps.onEnqueued?.(result.postbacks.length);
  return result;
}

export function pushRoutes(app: FastifyInstance, deps: PushDeps): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    // An account token pushes to its own account; the admin names one. Either way a repeated
    // parameter is refused: which of its values was meant cannot be told.
    const caller = request.caller;
    const named = queryString(request.query, "account_id");
    const accountId = caller.kind === "account" ? caller.accountId : named;
    if (accountId === undefined) {
      throw new ApiError("missing_account_id", "The admin token must name the account to push to: add ?account_id=acct_... (an account token pushes to its own).", { field: "account_id" });
    }
    const type = queryString(request.query, "type");
    if (type !== undefined && !TYPE.test(type)) {
      throw new ApiError("invalid_type", `type must be 1 to 200 letters, digits and _ . : - (e.g. order.created); got ${JSON.stringify(type.slice(0, 100))}.`, { field: "type" });
    }
    const objects = parsePushBody(request.body, deps.config.max_batch);
    const result = await queuePush(deps, request, { accountId, type, objects }, { status: 202, view: (r) => r });
    reply.code(202);
    return result;
  };
  app.post("/v1/push", { schema: pushSchema }, handler);
  // With Data Pusher's compatibility on, src/compat/data-pusher.ts owns this path: it takes this
  // header form too, and Data Pusher's own forms (the token and account in the body or query).
  if (!deps.config.compatSystems.includes("data-pusher")) app.post("/server/incoming_data", { schema: pushSchema }, handler);
}
