/**
 * A broadcast: JSON objects a provider sends once for every account (seed 004's trigger,
 * `POST /v1/broadcast`), fanned out as one postback per (object, destination) to every
 * destination, of any account, subscribed to the broadcast's type (core/event-types.ts
 * `subscribesTo`: its filter names the type; an empty filter takes no broadcast). Returns only
 * once every postback is durably queued, in one enqueue for all destinations.
 *
 * A broadcast may be sent at most once: with `once`, its key is marked seen in the dedupe store
 * under a scope of the caller's choosing (not an account: content_hashes has no foreign key, on
 * either store), and a key seen within the window queues nothing.
 */
import type { Destination } from "../core/types.js";
import { subscribesTo } from "../core/event-types.js";
import { newBroadcastId, newPostbackId } from "../core/ids.js";
import type { Ports } from "./ports.js";
import { destinationBatch, inLine, pushTargets, type PushDefaults } from "./push.js";
import { orderKeyRule } from "../core/ordering.js";
import { whenMaybeQueued } from "./maybe-queued.js";

/** Marks a broadcast that must go out once: `key` seen in `scope` within `windowMs` is a repeat. */
export interface OnceKey {
  scope: string;
  key: string;
  windowMs: number;
}

export interface BroadcastRequest {
  /** The event type; only destinations subscribed to it get the broadcast. */
  type: string;
  objects: Record<string, unknown>[];
  /** The broadcast's id, when the caller made it first (to put it into the objects); else a new one. */
  id?: string;
  once?: OnceKey;
  now?: number;
}

export interface BroadcastResult {
  id: string;
  postbacks: { id: string; account_id: string; destination_id: string; index: number }[];
  /** True when `once` found the key seen already: nothing was queued. */
  repeated: boolean;
}

/** Destinations listed per store call while looking for subscribers. */
const PAGE = 500;

/**
 * Every destination subscribed to `type`, of all accounts, that a push would go to now (one its
 * owner disabled gets none). Walks every destination: one broadcast costs a pass over the table,
 * fine for thousands of destinations; an index by event type is the step after that.
 */
export async function broadcastTargets(ports: Ports, type: string): Promise<Destination[]> {
  const targets: Destination[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await ports.stores.accounts.listAllDestinations({ after, limit: PAGE });
    targets.push(...pushTargets(page.filter((d) => subscribesTo(d.eventTypes, type)), type));
    if (page.length < PAGE) return targets;
    after = page[page.length - 1]!.id;
  }
}

/**
 * Queues the broadcast. A queue failure propagates (the queue's typed error, or MaybeQueuedError
 * when the queue may have stored it) after the `once` key is forgotten, so that sending the
 * broadcast again is not taken for a repeat.
 */
export async function broadcast(ports: Ports, defaults: PushDefaults, req: BroadcastRequest): Promise<BroadcastResult> {
  const now = req.now ?? Date.now();
  const id = req.id ?? newBroadcastId(now);
  const once = req.once;
  // Marked before anyone is looked up, as the ADS service stored every event it took: a repeat
  // is one whether or not anybody had subscribed the first time.
  if (once && (await ports.stores.dedupe.markSeen(once.scope, [once.key], now, once.windowMs))[0]) {
    return { id, postbacks: [], repeated: true };
  }
  const result: BroadcastResult = { id, postbacks: [], repeated: false };
  try {
    const texts = req.objects.map((o) => JSON.stringify(o));
    const batches = (await broadcastTargets(ports, req.type)).map((d) => {
      const batch = destinationBatch(d, defaults, d.accountId, now);
      const lineOf = orderKeyRule(d);
      texts.forEach((data, index) => {
        const postbackId = newPostbackId(now);
        batch.postbacks.push(inLine({ id: postbackId, data }, lineOf, () => req.objects[index]!));
        result.postbacks.push({ id: postbackId, account_id: d.accountId, destination_id: d.id, index });
      });
      return batch;
    });
    // One call for every destination of every account: all are queued or none, so a retry
    // after a 503 never reaches some subscribers twice.
    if (batches.length > 0) await ports.queue.enqueue(batches);
  } catch (err) {
    if (once) await ports.stores.dedupe.unmarkSeen(once.scope, [once.key]).catch(() => undefined);
    throw whenMaybeQueued(err, result, result.postbacks[0]?.id);
  }
  return result;
}
