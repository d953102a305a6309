/**
 * What the worker needs to know about a postback's owner before sending it: the destination's
 * current settings (its URL, method, headers, secret and limits win over what was current
 * when the data was pushed), whether to hold it (disabled) or cancel it (deleted, or its
 * account deleted). Lookups are cached briefly, so a busy worker reads each destination about
 * once a second, not once per postback; changes made by the API reach workers within that.
 */
import type { AccountStore } from "../store/port.js";
import type { Destination, Endpoint } from "../core/types.js";
import { signingKey } from "../core/signing.js";
import { BoundedMap } from "../core/bounded-map.js";

/** How long a looked-up destination or account is trusted. */
const TTL_MS = 1000;
/** Destinations, accounts and signing keys kept. */
const MAX_ENTRIES = 10_000;

export type Route =
  /** Send it: with this destination's settings when it has one. */
  | { kind: "send"; destination?: Destination; key?: Buffer }
  /** Park it until the destination is enabled again (its on_disable is "hold"). */
  | { kind: "hold" }
  /** Its destination or account is gone: record it cancelled. */
  | { kind: "cancel"; reason: string };

/** Why a postback to a disabled destination with on_disable "drop" is cancelled. */
export const DROPPED_WHILE_DISABLED = "its destination is disabled and drops what it is owed (on_disable: drop)";

export class DestinationCache {
  private readonly destinations = new BoundedMap<string, Promise<Destination | undefined>>(MAX_ENTRIES, TTL_MS);
  private readonly accounts = new BoundedMap<string, Promise<boolean | undefined>>(MAX_ENTRIES, TTL_MS);
  private readonly keys = new BoundedMap<string, Buffer>(MAX_ENTRIES);

  constructor(private readonly store: Pick<AccountStore, "getDestination" | "getAccount">) {}

  /** Rejects when the store cannot be read; the caller gives the postback back to the queue. */
  async route(endpoint: Endpoint): Promise<Route> {
    if (endpoint.destinationId !== undefined) {
      const destination = await this.destination(endpoint.destinationId);
      if (!destination) return { kind: "cancel", reason: "its destination was deleted" };
      if (!destination.enabled) {
        return destination.onDisable === "drop" ? { kind: "cancel", reason: DROPPED_WHILE_DISABLED } : { kind: "hold" };
      }
      return { kind: "send", destination, key: this.key(destination.secret) };
    }
    if (endpoint.accountId !== undefined && !(await this.accountExists(endpoint.accountId))) {
      return { kind: "cancel", reason: "its account was deleted" };
    }
    return { kind: "send" };
  }

  /** Forgets what is known of a destination (it was just disabled here). */
  forget(destinationId: string): void {
    this.destinations.delete(destinationId);
  }

  /** The destination as stored now, bypassing the cache. */
  fresh(destinationId: string): Promise<Destination | undefined> {
    this.destinations.delete(destinationId);
    return this.destination(destinationId);
  }

  private destination(id: string): Promise<Destination | undefined> {
    return cached(this.destinations, id, () => this.store.getDestination(id));
  }

  private accountExists(id: string): Promise<boolean | undefined> {
    return cached(this.accounts, id, async () => (await this.store.getAccount(id)) !== undefined);
  }

  private key(secret: string): Buffer {
    let key = this.keys.get(secret);
    if (!key) {
      key = signingKey(secret);
      this.keys.set(secret, key);
    }
    return key;
  }
}

/** One lookup in flight per id, shared by the postbacks that need it; failures are not kept. */
function cached<T>(map: BoundedMap<string, Promise<T | undefined>>, id: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
  const hit = map.get(id);
  if (hit) return hit;
  const value = load();
  map.set(id, value);
  value.catch(() => {
    if (map.get(id) === value) map.delete(id);
  });
  return value;
}
