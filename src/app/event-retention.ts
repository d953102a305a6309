/**
 * Event retention: events received longer ago than their account's retention
 * (`event_retention_ms`, else FERRY_EVENT_RETENTION) are deleted in small batches, each its own
 * short transaction, with a turn of the event loop between them, so that ingest never waits long
 * behind a delete. Counted from when Ferry received an event, not from its own timestamp, which
 * may be years old (seed 001's example is from 2021).
 */
import type { Account } from "../core/types.js";
import type { Ports } from "./ports.js";

export interface RetentionResult {
  /** Events deleted, all accounts together. */
  deleted: number;
  /** Accounts that had events deleted, with how many each. */
  byAccount: Map<string, number>;
}

const ACCOUNT_PAGE = 100;

/** Deletes every account's expired events, `batch` at a time. 0 = keep forever. */
export async function deleteExpiredEvents(
  ports: Ports,
  options: { defaultRetentionMs: number; batch: number; now?: number; shouldStop?: () => boolean },
): Promise<RetentionResult> {
  const now = options.now ?? Date.now();
  const result: RetentionResult = { deleted: 0, byAccount: new Map() };
  let after: string | undefined;
  for (;;) {
    const accounts: Account[] = await ports.stores.accounts.listAccounts({ after, limit: ACCOUNT_PAGE });
    for (const account of accounts) {
      const retention = account.eventRetentionMs ?? options.defaultRetentionMs;
      if (retention <= 0) continue;
      for (;;) {
        if (options.shouldStop?.()) return result;
        const n = await ports.stores.events.deleteEventsReceivedBefore(account.id, now - retention, options.batch);
        if (n > 0) {
          result.deleted += n;
          result.byAccount.set(account.id, (result.byAccount.get(account.id) ?? 0) + n);
        }
        if (n < options.batch) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    if (accounts.length < ACCOUNT_PAGE) return result;
    after = accounts[accounts.length - 1]!.id;
  }
}

/**
 * Deletes a deleted account's events and event types, in the background: batch by batch like
 * retention, waiting for events still on the fan-out outbox (with no destinations left they
 * fan out to nothing, then go). If the process stops first, the rest stays in the store,
 * unreachable (no route reads an account that is gone): a known gap, in docs/operations.md.
 */
export async function purgeAccountEvents(ports: Ports, accountId: string, options: { batch: number; maxWaitMs?: number } = { batch: 500 }): Promise<number> {
  let deleted = 0;
  const deadline = Date.now() + (options.maxWaitMs ?? 60_000);
  for (;;) {
    const n = await ports.stores.events.deleteEventsReceivedBefore(accountId, Number.MAX_SAFE_INTEGER, options.batch);
    deleted += n;
    if (n === options.batch) {
      await new Promise((resolve) => setImmediate(resolve));
      continue;
    }
    // Fewer than a batch: done, unless events wait on the outbox.
    if ((await ports.stores.events.queryEvents({ accountId, limit: 1 })).length === 0 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  for (;;) {
    const types = await ports.stores.events.listEventTypes(accountId, { after: undefined, limit: 100 });
    for (const t of types) await ports.stores.events.deleteEventType(accountId, t.category);
    if (types.length < 100) break;
  }
  return deleted;
}
