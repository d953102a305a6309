/**
 * The rules both SQL stores share, in plain TypeScript: how a patch changes an account or a
 * destination, how endpoint health counts failures, and what an idempotency key answers. Each
 * adapter reads the rows under its own lock or transaction, applies these, and writes back.
 */
import type { Account, Destination } from "../core/types.js";
import type { AccountPatch, DestinationFailure, DestinationPatch, IdempotencyClaim } from "./port.js";

const ACCOUNT_FIELDS = ["name", "email", "website", "metadata", "dedupeWindowMs"] as const satisfies readonly (keyof AccountPatch)[];

const DESTINATION_FIELDS = [
  "url",
  "method",
  "headers",
  "eventTypes",
  "enabled",
  "disabledReason",
  "disabledAt",
  "timeoutMs",
  "maxAttempts",
  "defaultValue",
  "rateLimit",
  "concurrency",
  "failureThreshold",
  "failureWindowMs",
  "secret",
] as const satisfies readonly (keyof DestinationPatch)[];

/** The fields of `patch` it may change and actually sets: an undefined value changes nothing. */
function given<T extends object, K extends keyof T>(patch: T, fields: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const field of fields) if (patch[field] !== undefined) out[field] = patch[field];
  return out;
}

export function patchAccount(account: Account, patch: AccountPatch, now: number): Account {
  return { ...account, ...given(patch, ACCOUNT_FIELDS), updatedAt: now };
}

/**
 * The destination after the patch, and whether its failure count must be cleared. Enabling
 * clears disabledReason, disabledAt and the failure count; disabling an enabled destination
 * sets disabledAt to now unless the patch says when.
 */
export function patchDestination(destination: Destination, patch: DestinationPatch, now: number): { destination: Destination; clearFailures: boolean } {
  const set = given(patch, DESTINATION_FIELDS);
  const next: Destination = { ...destination, ...set, updatedAt: now };
  if (set.enabled === true) {
    next.disabledReason = null;
    next.disabledAt = null;
    return { destination: next, clearFailures: true };
  }
  if (set.enabled === false && set.disabledAt === undefined && (destination.enabled || next.disabledAt === null)) next.disabledAt = now;
  return { destination: next, clearFailures: false };
}

/** What one destination's endpoint health holds: whether it is enabled, and its counted failures. */
export interface HealthState {
  enabled: boolean;
  /** Times of the failures counted, oldest first; at most `threshold` of them. */
  failures: number[];
}

/**
 * Counts one failure. Failures older than the window (measured back from the newest one) stop
 * counting; reaching the threshold disables an enabled destination and clears its count.
 * Returns the new state and, when this failure disabled it, the reason to record.
 */
export function countFailure(state: HealthState, failure: DestinationFailure): { state: HealthState; disabledReason?: string } {
  // A disabled destination, or one that is never disabled, counts nothing: enabling clears
  // the count anyway.
  if (!state.enabled || failure.threshold <= 0) return { state };
  let failures = [...state.failures, failure.at].sort((a, b) => a - b);
  if (failure.windowMs > 0) {
    const since = failures[failures.length - 1]! - failure.windowMs;
    failures = failures.filter((at) => at >= since);
  }
  failures = failures.slice(-failure.threshold);
  if (failures.length < failure.threshold) return { state: { enabled: true, failures } };
  return { state: { enabled: false, failures: [] }, disabledReason: failureReason(failure.threshold, failure.windowMs) };
}

/** Why endpoint health disabled a destination, e.g. "3 failed attempts within 1h". */
export function failureReason(threshold: number, windowMs: number): string {
  const attempts = `${threshold} failed attempt${threshold === 1 ? "" : "s"}`;
  return windowMs > 0 ? `${attempts} within ${duration(windowMs)}` : attempts;
}

const UNITS: [string, number][] = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1_000],
];

/** 3600000 → "1h", 5400000 → "90m", 1500 → "1500ms": the largest unit that divides it. */
export function duration(ms: number): string {
  for (const [unit, size] of UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** An idempotency key as stored. */
export interface IdempotencyEntry {
  fingerprint: string;
  claimedAt: number;
  /** null while claimed and not answered. */
  answeredAt: number | null;
  status: number | null;
  body: string | null;
}

/**
 * What a claim on a key finds: an answer to give, or "take" when the caller may (re)claim it —
 * the key is new, expired (answered or claimed longer than `ttlMs` ago), or a claim older than
 * `staleMs` with the same fingerprint was never answered.
 */
export function judgeClaim(
  entry: IdempotencyEntry | undefined,
  fingerprint: string,
  now: number,
  ttlMs: number,
  staleMs: number,
): Exclude<IdempotencyClaim, { kind: "claimed" }> | "take" {
  if (!entry || (entry.answeredAt ?? entry.claimedAt) < now - ttlMs) return "take";
  if (entry.fingerprint !== fingerprint) return { kind: "mismatch" };
  if (entry.answeredAt !== null) return { kind: "answered", status: entry.status ?? 200, body: entry.body ?? "" };
  return entry.claimedAt < now - staleMs ? "take" : { kind: "in_progress" };
}
