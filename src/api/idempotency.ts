/**
 * Idempotency-Key on the ingest routes (/ingest, /ingest.php, /v1/push, /server/incoming_data):
 * a request repeated with the same key within FERRY_IDEMPOTENCY_TTL_MS gets the first answer
 * again (with `Idempotent-Replayed: true`) and queues nothing new. Keys are scoped to the
 * caller (the account, or the admin), and bound to the request: the same key with another
 * body is refused. Answers below 500 are kept; a 5xx frees the key so the retry can succeed.
 */
import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Stores } from "../store/port.js";
import { ApiError } from "../core/errors.js";
import { MINUTE } from "../core/time.js";

/** A claim not answered within this long belongs to a process that died: it may be taken over. */
const STALE_MS = 1 * MINUTE;
const KEY = /^[\x21-\x7e]{1,255}$/;

declare module "fastify" {
  interface FastifyRequest {
    idempotency?: { scope: string; key: string };
  }
}

export function idempotency(app: FastifyInstance, deps: { stores: Stores; ttlMs: number }): void {
  app.addHook("preHandler", async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers["idempotency-key"];
    if (header === undefined) return;
    const key = Array.isArray(header) ? header[0] ?? "" : header;
    if (!KEY.test(key)) {
      throw new ApiError("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces, e.g. a UUID.", { field: "Idempotency-Key" });
    }
    const scope = request.caller.kind === "account" ? request.caller.accountId : "admin";
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
        return reply.code(claim.status).header("idempotent-replayed", "true").type(claim.status >= 400 ? "application/problem+json" : "application/json").send(claim.body);
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
      if (reply.statusCode >= 500) await deps.stores.dedupe.releaseIdempotencyKey(claimed.scope, claimed.key);
      else await deps.stores.dedupe.answerIdempotencyKey(claimed.scope, claimed.key, reply.statusCode, String(payload), Date.now());
    } catch (err) {
      // The work is done and answered; a retry with this key will wait out the stale claim.
      request.log.error({ err }, "could not store the answer of an idempotent request");
    }
    return payload;
  });
}
