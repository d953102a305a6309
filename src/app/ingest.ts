/**
 * Ingest: postbacks whose endpoint (method, URL template) comes inline with the data, one per
 * data object. The HTTP body is checked and turned into a batch by the API (src/api/ingest.ts);
 * queuing it is the product's step.
 */
import type { EnqueueBatch } from "../queue/port.js";
import type { Ports } from "./ports.js";
import { whenMaybeQueued } from "./maybe-queued.js";

/**
 * Queues the batch atomically and returns the postbacks' ids; once it resolves every one is
 * durably stored. A queue failure propagates as the queue's typed error (nothing was queued),
 * or as MaybeQueuedError when the queue may have stored the batch without confirming it.
 */
export async function ingest(ports: Pick<Ports, "queue">, batch: EnqueueBatch): Promise<string[]> {
  const ids = batch.postbacks.map((p) => p.id);
  try {
    await ports.queue.enqueue(batch);
  } catch (err) {
    throw whenMaybeQueued(err, ids, ids[0]);
  }
  return ids;
}
