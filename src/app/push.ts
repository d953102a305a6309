/**
 * A push: JSON objects an account sends, fanned out as one postback per (object, destination)
 * to every destination whose event-type filter takes the push's type. Objects seen within the
 * account's duplicate window are dropped. Returns only once every postback is durably queued.
 */
import { createHash } from "node:crypto";
import type { EnqueueBatch, NewPostback } from "../queue/port.js";
import { orderKeyRule, type OrderKeyRule } from "../core/ordering.js";
import { ApiError } from "../core/errors.js";
import { matchesEventType } from "../core/event-types.js";
import { endpointId, newPostbackId } from "../core/ids.js";
import { DISABLED_BY_OWNER, type Destination } from "../core/types.js";
import type { Ports } from "./ports.js";
import { whenMaybeQueued } from "./maybe-queued.js";

export interface PushRequest {
  accountId: string;
  /** The event type the destinations' filters are matched against; undefined matches every filter. */
  type: string | undefined;
  objects: Record<string, unknown>[];
  now?: number;
}

/** Defaults for what a destination leaves unset. */
export interface PushDefaults {
  max_attempts: number;
  default_value: string;
}

export interface PushResult {
  postbacks: { id: string; destination_id: string; index: number }[];
  /** Indexes of the objects dropped as duplicates. */
  duplicates: number[];
}

/**
 * Destinations a push goes to. One disabled by endpoint health still gets its postbacks, held
 * until it is enabled again (not lost), unless it drops what it is owed while disabled; one its
 * owner disabled gets none.
 */
export function pushTargets(destinations: Destination[], type: string | undefined): Destination[] {
  return destinations.filter(
    (d) => (d.enabled || (d.disabledReason !== DISABLED_BY_OWNER && d.onDisable !== "drop")) && matchesEventType(d.eventTypes, type),
  );
}

/**
 * Queues the push. Throws ApiError account_not_found; a queue failure propagates (the queue's
 * typed error) after the objects' hashes are forgotten, so that sending the push again is not
 * taken for a duplicate.
 */
export async function push(ports: Ports, defaults: PushDefaults, req: PushRequest): Promise<PushResult> {
  const { accountId, type } = req;
  const now = req.now ?? Date.now();
  const account = await ports.stores.accounts.getAccount(accountId);
  if (!account) throw new ApiError("account_not_found", `No account ${JSON.stringify(accountId.slice(0, 100))}.`, { field: "account_id" });
  const destinations = pushTargets(await ports.stores.accounts.accountDestinations(accountId), type);
  const texts = req.objects.map((o) => JSON.stringify(o));
  let hashes: string[] = [];
  let duplicate = texts.map(() => false);
  if (account.dedupeWindowMs > 0 && destinations.length > 0) {
    // The duplicate check: the same type and object again within the window is dropped.
    hashes = texts.map((t) => contentHash(type, t));
    duplicate = await ports.stores.dedupe.markSeen(accountId, hashes, now, account.dedupeWindowMs);
  }
  const postbacks: PushResult["postbacks"] = [];
  const batches = destinations.map((d) => {
    const batch = destinationBatch(d, defaults, accountId, now);
    const lineOf = orderKeyRule(d);
    texts.forEach((data, index) => {
      if (duplicate[index]) return;
      const id = newPostbackId(now);
      batch.postbacks.push(inLine({ id, data }, lineOf, () => req.objects[index]!));
      postbacks.push({ id, destination_id: d.id, index });
    });
    return batch;
  });
  const result = { postbacks, duplicates: duplicate.flatMap((d, i) => (d ? [i] : [])) };
  const queued = batches.filter((b) => b.postbacks.length > 0);
  try {
    // One call for every destination: all are queued or none, so a 503 never leaves some
    // destinations queued that the client's retry would then send a second time.
    await ports.queue.enqueue(queued);
  } catch (err) {
    // Not queued (or not known to be), so not seen: the push sent again must not be dropped as
    // a duplicate. When it was queued after all, a retry with its Idempotency-Key finds that
    // out; one without may deliver twice, which beats losing it.
    const fresh = hashes.filter((_, i) => !duplicate[i]);
    if (fresh.length) await ports.stores.dedupe.unmarkSeen(accountId, fresh).catch(() => undefined);
    throw whenMaybeQueued(err, result, queued[0]?.postbacks[0]?.id);
  }
  return result;
}

function contentHash(type: string | undefined, text: string): string {
  return createHash("sha256").update(`${type ?? ""}\n${text}`).digest("base64url");
}

/**
 * The postback in its line, when its destination keeps order (core/ordering.ts). `object` is
 * the data object, asked for only then: an event's is parsed from its JSON text.
 */
export function inLine(p: NewPostback, lineOf: OrderKeyRule | undefined, object: () => Record<string, unknown>): NewPostback {
  const orderKey = lineOf?.(object());
  return orderKey === undefined ? p : { ...p, orderKey };
}

/** An empty batch for the destination: its endpoint as this push sees it. */
export function destinationBatch(d: Destination, defaults: PushDefaults, accountId: string, now: number): EnqueueBatch {
  const maxAttempts = d.maxAttempts ?? defaults.max_attempts;
  const defaultValue = d.defaultValue ?? defaults.default_value;
  const endpoint = { method: d.method, url: d.url, defaultValue, maxAttempts, accountId, destinationId: d.id };
  return { endpoint: { id: endpointId(endpoint), ...endpoint }, postbacks: [], createdAt: now };
}

