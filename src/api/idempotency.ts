/**
 * Idempotency-Key on the ingest routes (/ingest, /ingest.php, /v1/push, /server/incoming_data):
 * a request repeated with the same key within FERRY_IDEMPOTENCY_TTL_MS gets the first answer
 * again (with `Idempotent-Replayed: true`) and queues nothing new. Keys are scoped to the
 * caller (the account, or the admin), and bound to the request: the same key with another
 * body is refused. Answers below 500 are kept; a 5xx frees the key so the retry can succeed.
 *
 * Except one 5xx: when the queue lost its answer to an enqueue, or its replicas did not confirm
 * it in time (FERRY_REDIS_WAIT_REPLICAS) (both MaybeQueuedError), the
 * postbacks may have been queued. The key is then left unresolved, holding the answer the
 * request would have had and its first postback id. Its retry first settles what happened
 * (Queue.withdraw, then the store): queued → the first answer, 202 with the same ids; never
 * queued (and now never will be) → the key is claimed again and the request runs anew. So a
 * retry with the key never queues the postbacks twice.
 */
import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Stores } from "../store/port.js";
import type { Queue } from "../queue/port.js";
import { ApiError } from "../core/errors.js";
import { MINUTE } from "../core/time.js";
import type { MaybeQueuedError } from "../app/maybe-queued.js";
import { queueUnavailable } from "./common.js";

/** A claim not answered within this long belongs to a process that died: it may be taken over. */
const STALE_MS = 1 * MINUTE;
const KEY = /^[\x21-\x7e]{1,255}$/;

declare module "fastify" {
  interface FastifyRequest {
    idempotency?: { scope: string; key: string };
    /** Set by a route whose enqueue may have taken effect unconfirmed: the key's Unresolved. */
    unresolved?: Unresolved;
  }
}

/** What an unresolved key holds: the answer had the enqueue been confirmed, and how to check. */
interface Unresolved {
  status: number;
  body: string;
  firstPostbackId: string;
}

/**
 * The 503 for an enqueue that may have taken effect; the onSend hook below leaves the
 * request's key unresolved with `status` and `view` as the answer a retry may get.
 */
export function maybeQueued(request: FastifyRequest, err: MaybeQueuedError<unknown>, status: number, view: unknown): ApiError {
  const keyed = request.idempotency !== undefined;
  if (keyed) request.unresolved = { status, body: JSON.stringify(view), firstPostbackId: err.firstPostbackId };
  return queueUnavailable(
    err,
    // Two causes: the answer was lost (a timeout, a dropped connection), or Redis stored them
    // but fewer replicas than FERRY_REDIS_WAIT_REPLICAS had them in time.
    "The queue could not confirm it stored the postbacks safely (its answer was lost, or too few Redis replicas had them in time): they may have been queued. " +
      (keyed
        ? "Send the request again with the same Idempotency-Key: Ferry then finds out, and answers 202 with the same ids if they were queued, or queues them now if they were not."
        : "Sending the request again may deliver them twice; send an Idempotency-Key with requests to make such retries safe."),
  );
}

/** Whose keys a request's key is among: the account, or the admin (by default, from request.caller). */
export type IdempotencyScope = (request: FastifyRequest) => string;

const callerScope: IdempotencyScope = (request) => (request.caller.kind === "account" ? request.caller.accountId : "admin");

export interface IdempotencyOptions {
  stores: Stores;
  queue: Queue;
  ttlMs: number;
  scopeOf?: IdempotencyScope;
  /**
   * The content type a replayed error answer is sent with: Ferry's routes answer errors as
   * problem+json; a compat route in its system's own shape (Data Pusher's envelope) as JSON.
   */
  errorType?: string;
}

export function idempotency(app: FastifyInstance, deps: IdempotencyOptions): void {
  const scopeOf = deps.scopeOf ?? callerScope;
  const errorType = deps.errorType ?? "application/problem+json";
  app.addHook("preHandler", async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers["idempotency-key"];
    if (header === undefined) return;
    const key = Array.isArray(header) ? header[0] ?? "" : header;
    if (!KEY.test(key)) {
      throw new ApiError("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces, e.g. a UUID.", { field: "Idempotency-Key" });
    }
    const scope = scopeOf(request);
    const fingerprint = createHash("sha256")
      .update(`${request.method} ${request.url}\n${JSON.stringify(request.body ?? null)}`)
      .digest("base64url");
    const now = Date.now();
    // A store outage is a StoreUnavailableError, answered 503 store_unavailable by the error handler.
    const claim = await deps.stores.dedupe.claimIdempotencyKey(scope, key, fingerprint, now, deps.ttlMs, STALE_MS);
    switch (claim.kind) {
      case "claimed":
        request.idempotency = { scope, key };
        return;
      case "answered":
        return replay(reply, claim.status, claim.body, errorType);
      case "unresolved": {
        const pending = JSON.parse(claim.pending) as Unresolved;
        // Withdraw first, then ask the store: a call queued and already finished by a worker
        // is recorded there before it leaves the queue, so no outcome slips between the two.
        const queued =
          (await deps.queue.withdraw(pending.firstPostbackId, deps.ttlMs)) === "queued" ||
          (await deps.stores.postbacks.getPostback(pending.firstPostbackId)) !== undefined;
        if (queued) {
          await deps.stores.dedupe.answerIdempotencyKey(scope, key, pending.status, pending.body, Date.now());
          return replay(reply, pending.status, pending.body, errorType);
        }
        if (await deps.stores.dedupe.retakeIdempotencyKey(scope, key, Date.now())) {
          request.idempotency = { scope, key };
          return;
        }
        throw new ApiError("idempotency_key_in_use", "A request with this Idempotency-Key is being handled right now; send it again once that one is answered.", { headers: { "retry-after": "1" } });
      }
      case "in_progress":
        throw new ApiError("idempotency_key_in_use", "A request with this Idempotency-Key is being handled right now; send it again once that one is answered.", { headers: { "retry-after": "1" } });
      case "mismatch":
        throw new ApiError("idempotency_key_reused", "This Idempotency-Key was used with a different request body; use a new key for a new request.", { field: "Idempotency-Key" });
    }
  });

  app.addHook("onSend", async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const claimed = request.idempotency;
    if (!claimed) return payload;
    request.idempotency = undefined;
    try {
      const unresolved = request.unresolved;
      if (reply.statusCode >= 500 && unresolved) await deps.stores.dedupe.leaveIdempotencyKeyUnresolved(claimed.scope, claimed.key, JSON.stringify(unresolved), Date.now());
      else if (reply.statusCode >= 500) await deps.stores.dedupe.releaseIdempotencyKey(claimed.scope, claimed.key);
      else await deps.stores.dedupe.answerIdempotencyKey(claimed.scope, claimed.key, reply.statusCode, String(payload), Date.now());
    } catch (err) {
      // The work is done and answered; a retry with this key will wait out the stale claim.
      request.log.error({ err }, "could not store the answer of an idempotent request");
    }
    return payload;
  });
}

function replay(reply: FastifyReply, status: number, body: string, errorType: string): FastifyReply {
  return reply.code(status).header("idempotent-replayed", "true").type(status >= 400 ? errorType : "application/json").send(body);
}
