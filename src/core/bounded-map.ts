/**
 * A Map that holds at most `max` entries, optionally each for at most `ttlMs`: the one cache
 * Ferry keeps in memory (compiled templates, destinations, tokens, limiter states). When full,
 * the entry set longest ago goes first; `get` of an expired entry forgets it.
 */
export class BoundedMap<K, V> {
  private readonly entries = new Map<K, { value: V; expires: number }>();

  constructor(
    private readonly max: number,
    private readonly ttlMs: number = Infinity,
  ) {
    if (!(max >= 1)) throw new RangeError(`a BoundedMap holds at least 1 entry; got ${max}`);
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K, now: number = Date.now()): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expires <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  has(key: K, now: number = Date.now()): boolean {
    return this.get(key, now) !== undefined;
  }

  set(key: K, value: V, now: number = Date.now()): this {
    // Deleted first so that a key set again counts as the newest.
    this.entries.delete(key);
    if (this.entries.size >= this.max) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, expires: now + this.ttlMs });
    return this;
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  /** Deletes every entry whose value matches. */
  deleteWhere(match: (value: V, key: K) => boolean): void {
    for (const [key, entry] of this.entries) if (match(entry.value, key)) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  /** The values not expired at `now`, oldest set first (for a gauge read on a scrape). */
  *values(now: number = Date.now()): IterableIterator<V> {
    for (const entry of this.entries.values()) if (entry.expires > now) yield entry.value;
  }
}
