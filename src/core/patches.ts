/**
 * How a patch changes an account or a destination: the rule both SQL stores apply under their
 * own lock or transaction (read the row, patch it here, write it back), so that they agree.
 */
import type { Account, Destination } from "./types.js";

export type AccountPatch = Partial<Pick<Account, "name" | "email" | "website" | "externalId" | "metadata" | "dedupeWindowMs" | "strictEventTypes" | "eventRetentionMs">>;
export type DestinationPatch = Partial<Omit<Destination, "id" | "accountId" | "createdAt" | "updatedAt">>;

const ACCOUNT_FIELDS = ["name", "email", "website", "externalId", "metadata", "dedupeWindowMs", "strictEventTypes", "eventRetentionMs"] as const satisfies readonly (keyof AccountPatch)[];

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
  "onDisable",
  "ordering",
  "orderingKey",
  "rateLimitBurst",
  "pausedUntil",
  "pauseReason",
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
