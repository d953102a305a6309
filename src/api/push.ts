/**
 * POST /v1/push, and POST /server/incoming_data for seed 002's clients: any JSON object, or an
 * array of them, for an account; one postback per (object, destination) for every destination
 * whose event-type filter takes the push's `type`. Answered 202 only once every postback is
 * durably queued.
 */
import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Config } from "../config.js";
import type { EnqueueBatch, Queue } from "../queue/port.js";
import type { Stores } from "../store/port.js";
import { DISABLED_BY_OWNER, type Destination } from "../core/types.js";
import { ApiError } from "../core/errors.js";
import { endpointId, newPostbackId } from "../core/ids.js";
import { matchesEventType } from "../core/event-types.js";
import { stored } from "./common.js";

export interface PushDeps {
  queue: Queue;
  stores: Stores;
  config: Config;
  onEnqueued?: () => void;
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
 * Destinations a push goes to. One disabled by endpoint health still gets its postbacks, held
 * until it is enabled again (not lost); one its owner disabled gets none.
 */
export function pushTargets(destinations: Destination[], type: string | undefined): Destination[] {
  return destinations.filter((d) => (d.enabled || d.disabledReason !== DISABLED_BY_OWNER) && matchesEventType(d.eventTypes, type));
}

export function pushRoutes(app: FastifyInstance, deps: PushDeps): void {
  const handler = async (request: FastifyRequest<{ Querystring: Record<string, string | undefined> }>, reply: FastifyReply) => {
    // An account token pushes to its own account; the admin names one.
    const caller = request.caller;
    const accountId = caller.kind === "account" ? caller.accountId : request.query["account_id"];
    if (accountId === undefined || accountId === "") {
      throw new ApiError("missing_account_id", "The admin token must name the account to push to: add ?account_id=acct_... (an account token pushes to its own).", { field: "account_id" });
    }
    const type = request.query["type"];
    if (type !== undefined && !TYPE.test(type)) {
      throw new ApiError("invalid_type", `type must be 1 to 200 letters, digits and _ . : - (e.g. order.created); got ${JSON.stringify(type.slice(0, 100))}.`, { field: "type" });
    }
    const objects = parsePushBody(request.body, deps.config.max_batch);
    const now = Date.now();
    const texts = objects.map((o) => JSON.stringify(o));
    let hashes: string[] = [];
    const account = await stored(deps.stores.accounts.getAccount(accountId));
    if (!account) throw new ApiError("account_not_found", `No account ${JSON.stringify(accountId.slice(0, 100))}.`, { field: "account_id" });
    const destinations = pushTargets(await stored(deps.stores.accounts.accountDestinations(accountId)), type);
    let duplicate = texts.map(() => false);
    if (account.dedupeWindowMs > 0 && destinations.length > 0) {
      // Seed 004's duplicate check: the same type and object again within the window is dropped.
      hashes = texts.map((t) => createHash("sha256").update(`${type ?? ""}\n${t}`).digest("base64url"));
      duplicate = await stored(deps.stores.dedupe.markSeen(accountId, hashes, now, account.dedupeWindowMs));
    }
    const postbacks: { id: string; destination_id: string; index: number }[] = [];
    const batches: EnqueueBatch[] = destinations.map((d) => {
      const maxAttempts = d.maxAttempts ?? deps.config.max_attempts;
      const defaultValue = d.defaultValue ?? deps.config.default_value;
      const endpoint = { method: d.method, url: d.url, defaultValue, maxAttempts, accountId, destinationId: d.id };
      const batch: EnqueueBatch = { endpoint: { id: endpointId(endpoint), ...endpoint }, postbacks: [], createdAt: now };
      texts.forEach((data, index) => {
        if (duplicate[index]) return;
        const id = newPostbackId(now);
        batch.postbacks.push({ id, data });
        postbacks.push({ id, destination_id: d.id, index });
      });
      return batch;
    });
    try {
      await Promise.all(batches.filter((b) => b.postbacks.length > 0).map((b) => deps.queue.enqueue(b)));
    } catch (err) {
      // Not queued, so not seen: the push sent again must not count as a duplicate.
      const fresh = hashes.filter((_, i) => !duplicate[i]);
      if (fresh.length) await deps.stores.dedupe.unmarkSeen(accountId, fresh).catch(() => undefined);
      throw new ApiError("queue_unavailable", "The queue could not store the postbacks. Send the push again shortly (with the same Idempotency-Key, if you gave one).", {
        headers: { "retry-after": "1" },
        cause: err,
      });
    }
    if (postbacks.length) deps.onEnqueued?.();
    reply.code(202);
    return { postbacks, duplicates: duplicate.flatMap((d, i) => (d ? [i] : [])) };
  };
  app.post("/v1/push", handler);
  app.post("/server/incoming_data", handler);
}
