/**
 * A postback as both of its sources know it: the queue while it is owed, the store once an
 * attempt was recorded. Looking one up, and telling its state, happens here only; the API's
 * GET /v1/postbacks/{id} and every resend read it this way.
 */
import type { QueuedPostback } from "../queue/port.js";
import type { PostbackRecord } from "../store/port.js";
import type { Endpoint, PostbackState } from "../core/types.js";
import type { Ports } from "./ports.js";

/** What the queue and the store hold of one postback; at least one of the two is set. */
export interface FoundPostback {
  id: string;
  /** The store's record: set once an attempt (or a cancellation) was recorded. */
  record: PostbackRecord | undefined;
  /** The queue's entry: set while it is owed (pending, waiting for a retry, or held). */
  queued: QueuedPostback | undefined;
  endpoint: Endpoint;
  data: string;
  createdAt: number;
}

/** The state shown for a postback, from the queue and the store together. */
export type PostbackViewState = PostbackState | "held";

/**
 * The postback, or undefined when neither the queue nor the store has it. `accountId` limits
 * the lookup to that account's postbacks: another's is as unknown as one never made.
 */
export async function findPostback(ports: Ports, id: string, accountId?: string): Promise<FoundPostback | undefined> {
  const [record, queued] = await Promise.all([ports.stores.postbacks.getPostback(id), ports.queue.find(id)]);
  const found = record ?? queued;
  if (!found || (accountId !== undefined && found.endpoint.accountId !== accountId)) return undefined;
  return { id, record, queued, endpoint: found.endpoint, data: found.data, createdAt: found.createdAt };
}

/**
 * A queued postback is pending, failed (a retry scheduled) or held; once it leaves the queue
 * the store's state is final. A dead one sent again is pending once more.
 */
export function postbackState(p: FoundPostback): PostbackViewState {
  const { record, queued } = p;
  if (!queued) return record!.state;
  if (queued.held) return "held";
  return record?.state === "failed" ? "failed" : "pending";
}
