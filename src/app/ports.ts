/**
 * The ports as the use cases see them. The adapters throw the typed errors of
 * src/core/port-errors.ts (QueueUnavailableError, StoreUnavailableError, DuplicateIdError), so a
 * use case lets them pass and the API's error handler names the backend at fault.
 */
import type { Queue } from "../queue/port.js";
import type { Stores } from "../store/port.js";

/** The queue and the stores: what every use case works over. */
export interface Ports {
  queue: Queue;
  stores: Stores;
}
