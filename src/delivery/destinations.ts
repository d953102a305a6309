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
/**
 * How long a pause set here (Retry-After) is kept in memory: until the store's copy, written
 * with the worker's next flush and read again within TTL_MS, shows it. Then the stored pause
 * rules, so ending it through the API (paused_until: null) resumes this worker too.
 */
const LOCAL_PAUSE_MS = 2 * TTL_MS;
/** Destinations, accounts and signing keys kept. */
const MAX_ENTRIES = 10_000;

export type Route =
  /** Send it: with this destination's settings when it has one. */
  | { kind: "send"; destination?: Destination; key?: Buffer }
  /** Park it until the destination is enabled again (its on_disable is "hold"). */
  | { kind: "hold" }
  /** Its partner asked for a pause (Retry-After): back to the queue until then, not an attempt. */
  | { kind: "paused"; until: number }
  /** Its destination or account is gone: record it cancelled. */
  | { kind: "cancel"; reason: string };

/** Why a postback to a disabled destination with on_disable "drop" is cancelled. */
export const DROPPED_WHILE_DISABLED = "its destination is disabled and drops what it is owed (on_disable: drop)";

export class DestinationCache {
  private readonly destinations = new BoundedMap<string, Promise<Destination | undefined>>(MAX_ENTRIES, TTL_MS);
  private readonly accounts = new BoundedMap<string, Promise<boolean | undefined>>(MAX_ENTRIES, TTL_MS);
  private readonly keys = new BoundedMap<string, Buffer>(MAX_ENTRIES);
  /** Pauses this worker set, until the store's copy shows them (LOCAL_PAUSE_MS). */
  private readonly pauses = new BoundedMap<string, number>(MAX_ENTRIES, LOCAL_PAUSE_MS);

  constructor(private readonly store: Pick<AccountStore, "getDestination" | "getAccount">) {}

  /** Rejects when the store cannot be read; the caller gives the postback back to the queue. */
  async route(endpoint: Endpoint, now: number = Date.now()): Promise<Route> {
    if (endpoint.destinationId !== undefined) {
      const destination = await this.destination(endpoint.destinationId);
      if (!destination) return { kind: "cancel", reason: "its destination was deleted" };
      if (!destination.enabled) {
        if (destination.onDisable !== "drop") return { kind: "hold" };
        // A cancel cannot be undone, and the cached state may be up to a second old: a client
        // that registered again just now (enabled, and pushed to at once) must not lose its calls.
        const current = await this.fresh(endpoint.destinationId);
        if (!current) return { kind: "cancel", reason: "its destination was deleted" };
        if (!current.enabled) return current.onDisable === "drop" ? { kind: "cancel", reason: DROPPED_WHILE_DISABLED } : { kind: "hold" };
        return { kind: "send", destination: current, key: this.key(current.secret) };
      }
      // Paused by a worker (this one, or another: the store's copy read within TTL_MS).
      const until = Math.max(destination.pausedUntil ?? 0, this.pauses.get(destination.id, now) ?? 0);
      if (until > now) return { kind: "paused", until };
      return { kind: "send", destination, key: this.key(destination.secret) };
    }
    if (endpoint.accountId !== undefined && !(await this.accountExists(endpoint.accountId))) {
      return { kind: "cancel", reason: "its account was deleted" };
    }
    return { kind: "send" };
  }

  /** Pauses the destination here at once, before the store (and so other workers) know of it. */
  pause(destinationId: string, until: number, now: number = Date.now()): void {
    if ((this.pauses.get(destinationId, now) ?? 0) < until) this.pauses.set(destinationId, until, now);
  }

  /** Until when this worker paused the destination itself (0: it did not): no lookup, for a check just before sending. */
  pausedHere(destinationId: string, now: number = Date.now()): number {
    return this.pauses.get(destinationId, now) ?? 0;
  }

  /** Forgets what is known of a destination (it was just disabled or paused here). */
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
