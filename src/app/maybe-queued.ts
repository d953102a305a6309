/**
 * An enqueue whose outcome is unknown: the queue may have stored the postbacks although it
 * never said so (QueueUnavailableError with maybeApplied). The use case throws this instead,
 * carrying what it would have returned, so that the API can tell the sender the truth ("may
 * have been queued") and find out on the sender's retry (src/api/idempotency.ts).
 */
import { QueueUnavailableError } from "../core/port-errors.js";

export class MaybeQueuedError<T> extends Error {
  constructor(
    /** What the use case returns had the enqueue been confirmed. */
    readonly result: T,
    /** The first postback id of the enqueue call: Queue.withdraw and the store know it by this. */
    readonly firstPostbackId: string,
    override readonly cause: QueueUnavailableError,
  ) {
    super(`the queue may have stored postback ${firstPostbackId} and the rest of its call: ${cause.message}`);
    this.name = "MaybeQueuedError";
  }
}

/** `err` as a MaybeQueuedError when it is an enqueue failure of unknown outcome; else `err`. */
export function whenMaybeQueued<T>(err: unknown, result: T, firstPostbackId: string | undefined): unknown {
  if (err instanceof QueueUnavailableError && err.maybeApplied && firstPostbackId !== undefined) {
    return new MaybeQueuedError(result, firstPostbackId, err);
  }
  return err;
}
