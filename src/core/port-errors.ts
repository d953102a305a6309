/**
 * Errors the queue and store ports throw, typed so a caller can tell what failed without
 * reading messages: the API answers queue_unavailable for a Redis outage and store_unavailable
 * for a Postgres one, and a duplicate id is a caller's bug, not an outage.
 *
 * Adapters wrap what their driver throws (connection refused, a closed database, a timeout)
 * in QueueUnavailableError or StoreUnavailableError, keeping the driver's error as `cause`.
 */

export type Backend = "queue" | "store";

/** The backend could not carry out the call now; the same call may succeed later. */
export abstract class UnavailableError extends Error {
  abstract readonly backend: Backend;
}

export class QueueUnavailableError extends UnavailableError {
  readonly backend = "queue" as const;
  /**
   * True when the call may have taken effect all the same: it reached the queue, and the
   * connection was lost or timed out before the answer came. An enqueue that fails so may
   * have queued its postbacks; one with this false queued nothing.
   */
  readonly maybeApplied: boolean;
  constructor(message: string, options?: { cause?: unknown; maybeApplied?: boolean }) {
    super(message, options);
    this.name = "QueueUnavailableError";
    this.maybeApplied = options?.maybeApplied ?? false;
  }
}

export class StoreUnavailableError extends UnavailableError {
  readonly backend = "store" as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

/** An account's external id is another account's already; nothing was written. */
export class DuplicateExternalIdError extends Error {
  constructor(readonly externalId: string) {
    super(`an account with external id ${JSON.stringify(externalId.slice(0, 100))} exists already; nothing was written`);
    this.name = "DuplicateExternalIdError";
  }
}

/** An id handed to the port is already there (or repeats within one call); nothing was written. */
export class DuplicateIdError extends Error {
  constructor(
    readonly backend: Backend,
    readonly id: string,
    message = `${id} already exists in the ${backend}; nothing was written`,
  ) {
    super(message);
    this.name = "DuplicateIdError";
  }
}

/**
 * The error as the backend's outage, unless it is already one of the typed errors above.
 * `maybeApplied`: the call may have reached the queue before it failed (see QueueUnavailableError).
 */
export function asUnavailable(backend: Backend, err: unknown, what: string, maybeApplied = false): Error {
  if (err instanceof UnavailableError || err instanceof DuplicateIdError) return err;
  const message = `${what}: ${err instanceof Error ? err.message : String(err)}`;
  return backend === "queue" ? new QueueUnavailableError(message, { cause: err, maybeApplied }) : new StoreUnavailableError(message, { cause: err });
}
