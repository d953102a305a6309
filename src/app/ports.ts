/**
 * The ports as the use cases see them: every rejection says which backend failed. Until each
 * adapter throws the typed errors of src/core/port-errors.ts itself, a driver's error (a refused
 * connection, a closed database) is wrapped here, so a Redis outage is told apart from a
 * Postgres one. Typed errors pass through unchanged, so this stays harmless once they do.
 */
import type { Queue } from "../queue/port.js";
import type { Stores } from "../store/port.js";
import { asUnavailable, type Backend } from "../core/port-errors.js";

/** The queue and the stores: what every use case works over. */
export interface Ports {
  queue: Queue;
  stores: Stores;
}

/** A view of `port` whose async methods reject with a typed error of `backend`. */
function attributed<T extends object>(port: T, backend: Backend, name: string): T {
  return new Proxy(port, {
    get(target, prop) {
      // Read from the adapter itself, so a getter over its private fields still works.
      const value: unknown = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (!(result instanceof Promise)) return result;
        return result.catch((err: unknown) => {
          throw asUnavailable(backend, err, `${name}.${String(prop)}`);
        });
      };
    },
  });
}

/** The ports with each failure attributed to its backend (queue or store). */
export function attributeFailures(ports: Ports): Ports {
  const { stores } = ports;
  return {
    queue: attributed(ports.queue, "queue", "queue"),
    stores: {
      postbacks: attributed(stores.postbacks, "store", "store.postbacks"),
      accounts: attributed(stores.accounts, "store", "store.accounts"),
      dedupe: attributed(stores.dedupe, "store", "store.dedupe"),
      ping: () => attributed(stores, "store", "store").ping(),
      close: () => stores.close(),
    },
  };
}
