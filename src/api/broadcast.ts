/**
 * POST /v1/broadcast?type=<event type>: JSON objects (one, or an array, as /v1/push takes) sent
 * to every account's destinations subscribed to the type (src/app/broadcast.ts). Answered 202
 * with the postback ids per destination once all are durably queued; takes an Idempotency-Key.
 *
 * Who may broadcast: the admin token, or the provider token (FERRY_TRIGGER_TOKEN, the ADS
 * service's trigger token). The provider token is no account token, so this route sits outside
 * the token-checking scope of the others and checks its caller itself; the provider token is
 * taken here and on the ADS trigger alone, never by another route. An account token is refused
 * with 403 admin_only (it is valid, but pushes to its own account only), any other with 401.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Config } from "../config.js";
import { ApiError } from "../core/errors.js";
import { QueueUnavailableError } from "../core/port-errors.js";
import type { Ports } from "../app/ports.js";
import { broadcast, type BroadcastResult } from "../app/broadcast.js";
import { MaybeQueuedError } from "../app/maybe-queued.js";
import { bearerToken, callerForToken, hashToken, tokenMatches, type TokenCache } from "./auth.js";
import { idempotency, maybeQueued } from "./idempotency.js";
import { parsePushBody } from "./push.js";
import { queryString, queueUnavailable } from "./common.js";
import { broadcastSchema } from "./schemas/push.js";

export interface BroadcastDeps extends Ports {
  config: Config;
  adminTokenHash: Buffer;
  tokenCache: TokenCache;
  /** Told how many postbacks each broadcast queued. */
  onEnqueued?: ((postbacks: number) => void) | undefined;
}

/** Who broadcasts: the admin, or the provider holding FERRY_TRIGGER_TOKEN. */
type Broadcaster = "admin" | "provider";

declare module "fastify" {
  interface FastifyRequest {
    /** Set on /v1/broadcast by its own check, in place of `caller`. */
    broadcaster?: Broadcaster;
  }
}

const TYPE = /^[A-Za-z0-9_.:-]{1,200}$/;

async function broadcasterOf(deps: BroadcastDeps, triggerHash: Buffer | undefined, token: string): Promise<Broadcaster> {
  // Both compared in constant time, as hashes (equal lengths whatever the token's).
  if (tokenMatches(token, deps.adminTokenHash)) return "admin";
  if (triggerHash !== undefined && tokenMatches(token, triggerHash)) return "provider";
  // Throws the 401 every route gives an unknown or revoked token.
  await callerForToken(deps, token);
  throw new ApiError(
    "admin_only",
    "Only the admin token or the provider token (FERRY_TRIGGER_TOKEN) may broadcast to every account; this request carries an account token, which pushes to its own account with POST /v1/push.",
  );
}

export function broadcastRoutes(app: FastifyInstance, deps: BroadcastDeps): void {
  const triggerHash = deps.config.trigger_token === undefined ? undefined : hashToken(deps.config.trigger_token);
  app.addHook("onRequest", async (request) => {
    request.broadcaster = await broadcasterOf(deps, triggerHash, bearerToken(request));
  });
  // The admin's keys are those of its other requests; the provider's are its own.
  idempotency(app, { stores: deps.stores, queue: deps.queue, ttlMs: deps.config.idempotency_ttl_ms, scopeOf: (r) => r.broadcaster ?? "admin" });

  app.post("/v1/broadcast", { schema: broadcastSchema }, async (request: FastifyRequest, reply: FastifyReply) => {
    const type = queryString(request.query, "type");
    if (type === undefined) {
      throw new ApiError("invalid_type", "A broadcast needs its event type: add ?type=relation_added (destinations subscribe by naming it in event_types).", { field: "type" });
    }
    if (!TYPE.test(type)) {
      throw new ApiError("invalid_type", `type must be 1 to 200 letters, digits and _ . : - (e.g. relation_added); got ${JSON.stringify(type.slice(0, 100))}.`, { field: "type" });
    }
    const objects = parsePushBody(request.body, deps.config.max_batch);
    let result: BroadcastResult;
    try {
      result = await broadcast(deps, deps.config, { type, objects });
    } catch (err) {
      if (err instanceof MaybeQueuedError) throw maybeQueued(request, err, 202, view(err.result as BroadcastResult));
      if (!(err instanceof QueueUnavailableError)) throw err;
      throw queueUnavailable(err, "The queue could not store the broadcast; nothing was queued. Send it again shortly (with the same Idempotency-Key, if you gave one).");
    }
    if (result.postbacks.length) deps.onEnqueued?.(result.postbacks.length);
    reply.code(202);
    return view(result);
  });
}

/** The answer: the broadcast's id and its postbacks, per destination. */
const view = (r: BroadcastResult) => ({ id: r.id, postbacks: r.postbacks });
