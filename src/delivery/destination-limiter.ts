/**
 * Per-destination limits a destination's owner sets: requests in flight (`concurrency`) and
 * requests per second (`rate_limit`, with `rate_limit_burst`). They are kept in a LimitStore
 * (src/limits/port.ts): in this process on the embedded default, in Redis when workers share
 * one, so they hold across every worker together.
 *
 * Each destination has a local line here. Only its head asks the store (one round trip); the
 * others wait behind it, so a busy destination costs one question per grant or per refusal, not
 * one per waiting postback, and the store's answer says how long to wait before asking again
 * (a release in this process wakes the head early when it waits for a slot). A postback over
 * the limit waits in its worker slot, but only up to `MAX_WAITING` per destination: the rest go
 * back to the queue for about as long as the line ahead of them takes, so a slow destination
 * cannot take the slots the others need. Nor does a postback wait past its deadline (the latest
 * start that ends its attempt within its lease): it goes back to the queue then, while its
 * lease still holds, rather than be sent after another worker may have reserved it again.
 */
import type { Logger } from "pino";
import type { Acquired, LimitSettings, LimitStore } from "../limits/port.js";

const MAX_WAITING = 16;
/** A postback that reached its deadline waiting goes back to the queue for this long. */
const DEADLINE_DELAY = 100;
/** When the store cannot be asked, the line goes back to the queue for this long. */
const UNAVAILABLE_DELAY = 1000;
/** Failures of the store are logged at most this often. */
const LOG_EVERY_MS = 5000;
/** setTimeout's longest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What the limiter reports, for /metrics: the store told a line's head to wait, or a postback went back to the queue. */
export type LimitEvent =
  | { kind: "wait"; reason: "concurrency" | "rate" }
  | { kind: "given_back"; reason: "line_full" | "deadline" | "store_unavailable" };

/** A slot and token taken: release it once the send has ended. */
export interface Slot {
  lease: string | null;
}

interface Waiter {
  /** The latest time it may be sent. */
  deadline: number;
  /** Leaves the line (if still in it) and answers; false if it had answered already. */
  settle(result: Slot | number): boolean;
}

interface Line {
  id: string;
  waiters: Waiter[];
  /** The head is asking the store (or sleeping before asking again). */
  asking: boolean;
  /** What the last refusal was for: a release here wakes the head only for "concurrency". */
  waitingFor: "concurrency" | "rate" | undefined;
  /** Ends the head's sleep early. */
  wake: (() => void) | undefined;
  limits: LimitSettings;
  leaseMs: number;
}

export interface DestinationLimiterOptions {
  store: LimitStore;
  logger?: Logger;
  observe?: (event: LimitEvent) => void;
}

export class DestinationLimiter {
  private readonly lines = new Map<string, Line>();
  private lastLogged = 0;

  constructor(private readonly o: DestinationLimiterOptions) {}

  /**
   * A slot (release it after the send), or ms to give the postback back to the queue for. It
   * waits here at most until `deadline`; a slot it gets lasts `leaseMs` at most.
   */
  acquire(id: string, limits: LimitSettings, deadline: number, leaseMs: number): Promise<Slot | number> {
    const left = deadline - Date.now();
    if (left < 0) return this.givenBack("deadline", DEADLINE_DELAY);
    let line = this.lines.get(id);
    if (!line) {
      line = { id, waiters: [], asking: false, waitingFor: undefined, wake: undefined, limits, leaseMs };
      this.lines.set(id, line);
    }
    // The latest settings win (the destination cache refreshes them about once a second).
    line.limits = limits;
    line.leaseMs = leaseMs;
    if (line.waiters.length >= MAX_WAITING) {
      // Come back once the line ahead has likely gone through.
      const perSecond = Math.min(limits.rateLimit ?? Infinity, (limits.concurrency ?? Infinity) * 10);
      return this.givenBack("line_full", Math.max(100, Math.ceil(((line.waiters.length + 1) / perSecond) * 1000)));
    }
    const l = line;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        // Its deadline came first: out of the line, back to the queue while its lease holds.
        this.o.observe?.({ kind: "given_back", reason: "deadline" });
        waiter.settle(DEADLINE_DELAY);
      }, Math.min(left, MAX_TIMER_MS));
      const waiter: Waiter = {
        deadline,
        settle: (result) => {
          if (settled) return false;
          settled = true;
          clearTimeout(timer);
          const i = l.waiters.indexOf(waiter);
          if (i !== -1) l.waiters.splice(i, 1);
          // Nobody left to ask for: the head stops sleeping and the line ends.
          if (l.waiters.length === 0) l.wake?.();
          resolve(result);
          return true;
        },
      };
      let settled = false;
      l.waiters.push(waiter);
      if (!l.asking) void this.ask(l);
    });
  }

  /** Gives the slot back; a head in this process waiting for a slot asks again at once. */
  release(id: string, slot: Slot): void {
    if (slot.lease === null) return;
    this.o.store.release(id, slot.lease).catch((err: unknown) => this.failed(err, id, "release"));
    const line = this.lines.get(id);
    if (line?.waitingFor === "concurrency") line.wake?.();
  }

  /** On shutdown: every waiter goes back to the queue now rather than at its deadline. */
  rejectWaiting(): void {
    for (const line of this.lines.values()) for (const w of [...line.waiters]) w.settle(0);
  }

  /** The head's loop: asks the store for the line until the line is empty. */
  private async ask(line: Line): Promise<void> {
    line.asking = true;
    try {
      while (line.waiters.length > 0) {
        let got: Acquired;
        try {
          got = await this.o.store.acquire(line.id, line.limits, line.leaseMs);
        } catch (err) {
          // The store is away (Redis down): no slot can be promised, so nobody is sent.
          this.failed(err, line.id, "acquire");
          for (const w of [...line.waiters]) {
            this.o.observe?.({ kind: "given_back", reason: "store_unavailable" });
            w.settle(UNAVAILABLE_DELAY);
          }
          break;
        }
        if (got.granted) {
          line.waitingFor = undefined;
          this.grant(line, got.lease, got.sendInMs);
          continue;
        }
        line.waitingFor = got.reason;
        this.o.observe?.({ kind: "wait", reason: got.reason });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(wake, Math.min(got.retryInMs, MAX_TIMER_MS));
          function wake() {
            clearTimeout(timer);
            line.wake = undefined;
            resolve();
          }
          line.wake = wake;
        });
      }
    } finally {
      line.asking = false;
      line.waitingFor = undefined;
      // Empty now (the loop runs until it is, or gave everyone back): the next postback starts afresh.
      if (this.lines.get(line.id) === line) this.lines.delete(line.id);
    }
  }

  /**
   * Hands a grant to the head of the line, which leaves it so the next asks at once. A grant
   * for a moment ahead (the rate's place kept) is waited for out of the line.
   */
  private grant(line: Line, lease: string | null, sendInMs: number): void {
    const slot: Slot = { lease };
    const head = line.waiters[0];
    if (head && Date.now() + sendInMs < head.deadline) {
      if (sendInMs <= 0) {
        head.settle(slot);
        return;
      }
      line.waiters.shift();
      setTimeout(() => {
        // Its deadline timer won a close race: the slot is nobody's.
        if (!head.settle(slot) && lease !== null) this.release(line.id, slot);
      }, sendInMs);
      return;
    }
    // Its waiter left (deadline) while the store answered, or its place comes too late for it.
    if (lease !== null) this.release(line.id, slot);
    if (head) {
      this.o.observe?.({ kind: "given_back", reason: "deadline" });
      head.settle(DEADLINE_DELAY);
    }
  }

  private givenBack(reason: "line_full" | "deadline", ms: number): Promise<number> {
    this.o.observe?.({ kind: "given_back", reason });
    return Promise.resolve(ms);
  }

  private failed(err: unknown, destinationId: string, what: string): void {
    const now = Date.now();
    if (now - this.lastLogged < LOG_EVERY_MS) return;
    this.lastLogged = now;
    this.o.logger?.warn({ err, destination_id: destinationId }, `could not ${what} a destination limit slot; its postbacks go back to the queue until the limit store answers`);
  }
}
