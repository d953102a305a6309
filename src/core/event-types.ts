/**
 * Event-type filters of destinations: an empty list or `*` takes every push; `order.created`
 * takes that type; `order.*` takes every type that starts with `order.`. A push without a type
 * goes only to destinations that take every push.
 */
export function matchesEventType(patterns: readonly string[], type: string | undefined): boolean {
  if (patterns.length === 0) return true;
  for (const pattern of patterns) {
    if (pattern === "*") return true;
    if (type === undefined) continue;
    if (pattern.endsWith(".*") ? type.startsWith(pattern.slice(0, -1)) : type === pattern) return true;
  }
  return false;
}

/**
 * Whether a destination subscribed to a broadcast of `type` (a provider's event sent to every
 * account, seed 004's trigger): its filter names the type, a prefix of it (`relation.*`) or `*`.
 * An empty filter takes every push of its own account, but no broadcast: a provider's events
 * reach only the destinations that asked for them, never a tenant's catch-all destination.
 */
export function subscribesTo(patterns: readonly string[], type: string): boolean {
  return patterns.length > 0 && matchesEventType(patterns, type);
}
