/**
 * The events the bench stores (issue 10): made on the fly, deterministic, the same for every
 * store. Shared by bench/events-store.ts (through the store port) and the events scenario of
 * `npm run bench` (through POST /v1/events).
 *
 * One account (the worst case: every index range holds all of it); `events` ÷ 50 sessions of
 * 50 events over 30 days from 2024-01-01, each session within about an hour; 20 categories,
 * 5 application names, ~60 bytes of data. Event n is session (n mod sessions)'s
 * (n div sessions)-th event, so batches interleave sessions as live traffic does.
 */
import { formatEventTime } from "../src/core/event-time.js";

export const PER_SESSION = 50;
export const CATEGORIES = 20;
export const NAMES = 5;
export const HOUR_US = 3_600_000_000;
/** 2024-01-01T00:00:00Z in µs: the 30 days of events start here. */
export const START_US = Date.UTC(2024, 0, 1) * 1000;
export const SPAN_US = 30 * 24 * HOUR_US;

/** A small deterministic PRNG (mulberry32), so every store gets the same events. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sessionId = (s: number): string => `sess-${s.toString(16).padStart(8, "0")}-4e4e-80b5-f1ffddc25423`;

/** One generated event, in the store's terms (µs timestamp, data as JSON text). */
export interface BenchEvent {
  sessionId: string;
  category: string;
  name: string;
  data: string;
  timestampUs: number;
}

export class EventData {
  readonly sessions: number;
  private readonly start: Float64Array;
  private readonly gap: Float64Array;

  constructor(readonly events: number) {
    this.sessions = Math.max(1, Math.floor(events / PER_SESSION));
    this.start = new Float64Array(this.sessions);
    this.gap = new Float64Array(this.sessions);
    const rnd = prng(1);
    for (let s = 0; s < this.sessions; s++) {
      this.start[s] = START_US + Math.floor(rnd() * (SPAN_US - HOUR_US));
      this.gap[s] = Math.floor(rnd() * (HOUR_US / PER_SESSION));
    }
  }

  event(n: number): BenchEvent {
    const s = n % this.sessions;
    const k = Math.floor(n / this.sessions);
    return {
      sessionId: sessionId(s),
      category: `category-${(s * 7 + k) % CATEGORIES}`,
      name: `App${s % NAMES}`,
      data: JSON.stringify({ host: "www.party.com", path: `/page/${k}`, n }),
      timestampUs: this.start[s]! + k * this.gap[s]! + (n % 1000),
    };
  }

  /** Events [from, to) as the body of POST /v1/events: an array in seed 001's shape. */
  body(from: number, to: number): string {
    const parts: string[] = [];
    for (let n = from; n < Math.min(to, this.events); n++) {
      const e = this.event(n);
      parts.push(
        `{"session_id":"${e.sessionId}","category":"${e.category}","name":"${e.name}","data":${e.data},"timestamp":"${formatEventTime(e.timestampUs)}"}`,
      );
    }
    return `[${parts.join(",")}]`;
  }
}

/** The queries the issue sets targets for, drawn from a seeded PRNG: the same on every store. */
export class QueryDraw {
  private readonly rnd = prng(2);
  constructor(private readonly data: EventData) {}
  /** The start of a random one-hour range within the 30 days. */
  hour(): number {
    return START_US + Math.floor(this.rnd() * (SPAN_US - HOUR_US));
  }
  session(): string {
    return sessionId(Math.floor(this.rnd() * this.data.sessions));
  }
  category(): string {
    return `category-${Math.floor(this.rnd() * CATEGORIES)}`;
  }
}
