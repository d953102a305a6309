/**
 * Ingest: postbacks whose endpoint (method, URL template) comes inline with the data, one per
 * data object. The HTTP body is checked and turned into a batch by the API (src/api/ingest.ts);
 * queuing it is the product's step.
 */
import type { EnqueueBatch } from "../queue/port.js";
import type { Ports } from "./ports.js";

/**
 * Queues the batch atomically and returns the postbacks' ids; once it resolves every one is
 * durably stored. A queue failure propagates (the queue's typed error): nothing was queued.
 */
export async function ingest(ports: Pick<Ports, "queue">, batch: EnqueueBatch): Promise<string[]> {
  await ports.queue.enqueue(batch);
  return batch.postbacks.map((p) => p.id);
}
