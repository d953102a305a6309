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
