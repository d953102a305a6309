/**
 * The embedded backend's FinishAndTake: the queue and the stores share one SQLite connection,
 * so finished work's store writes, its settle and the next reservation are one IMMEDIATE
 * transaction (one commit, one WAL write) instead of a transaction each. Atomic as well: a
 * failed write settles nothing, so an entry is never settled without its attempt recorded.
 */
import type { FinishAndTake, FinishedWork, FinishedWorkWritten, Reservation, Settlement } from "../queue/port.js";
import type { SqliteQueue } from "../queue/sqlite.js";
import type { SqliteAccountStore } from "./sqlite-accounts.js";
import type { SqlitePostbackStore } from "./sqlite-postbacks.js";

const NOTHING_WRITTEN: FinishedWorkWritten & { endpoints?: Set<string> } = { disabled: [], gone: [] };

export class SqliteFinishAndTake implements FinishAndTake {
  /** All three on one connection (openBackends makes sure). */
  constructor(
    private readonly queue: SqliteQueue,
    private readonly postbacks: SqlitePostbackStore,
    private readonly accounts: SqliteAccountStore,
  ) {}

  async finishAndTake(
    work: FinishedWork | undefined,
    settlements: Settlement[],
    max: number,
    leaseMs: number,
    now?: number,
  ): Promise<{ written: FinishedWorkWritten; settled: number; reserved: Reservation[] }> {
    const write = work === undefined ? () => NOTHING_WRITTEN : () => this.write(work);
    const { written, settled, reserved } = await this.queue.settleAndReserveAfter(write, settlements, max, leaseMs, now);
    if (written.endpoints) this.postbacks.committed(written.endpoints);
    return { written: { disabled: written.disabled, gone: written.gone }, settled, reserved };
  }

  /** In the worker's order (src/delivery/worker.ts, store): attempts first, then what they lead to. */
  private write(work: FinishedWork): FinishedWorkWritten & { endpoints: Set<string> } {
    const endpoints = this.postbacks.writeWithin(work.records, work.cancels, work.held);
    const disabled = work.failures.length > 0 ? this.accounts.recordFailuresWithin(work.failures) : [];
    for (const p of work.pauses) this.accounts.pauseWithin(p.destinationId, p.until, p.reason);
    const gone = work.gone.filter((id) => this.accounts.disableGoneWithin(id, work.at));
    return { disabled, gone, endpoints };
  }
}
