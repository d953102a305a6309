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
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "QueueUnavailableError";
  }
}

export class StoreUnavailableError extends UnavailableError {
  readonly backend = "store" as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StoreUnavailableError";
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

/** The error as the backend's outage, unless it is already one of the typed errors above. */
export function asUnavailable(backend: Backend, err: unknown, what: string): Error {
  if (err instanceof UnavailableError || err instanceof DuplicateIdError) return err;
  const message = `${what}: ${err instanceof Error ? err.message : String(err)}`;
  return backend === "queue" ? new QueueUnavailableError(message, { cause: err }) : new StoreUnavailableError(message, { cause: err });
}
