/**
 * Messages between the bench's parent and its two helper processes (IPC of child_process.fork):
 * the receiver (bench/receiver-process.ts) and the load generator (bench/load-process.ts).
 */
import type { LoadClient } from "./options.js";
import type { Summary } from "./stats.js";

export type ToReceiver =
  | {
      type: "expect";
      phase: string;
      /** Distinct postbacks (of the `counted` ports) after which the phase is done. */
      count: number;
      /** Ports whose postbacks count toward `count`; none given: every port's. */
      counted?: number[];
      /** Ports that accept each request and never answer, until the next "expect". */
      hanging?: number[];
      /** The other ports answer 200 after this many ms (slow healthy partners); none: at once. */
      answerMs?: number;
      /**
       * Ports whose every new postback is also recorded: its arrival time and enqueue→delivery
       * latency, in arrival order (what rates per second and one account's latency come from).
       */
      record?: number[];
    }
  /** Listen on `count` more ports (the destinations of the isolation scenario); answered with "destinations". */
  | { type: "destinations"; count: number };

/** What one port of the receiver got in a phase. */
export interface PortReceived {
  /** Distinct webhook-ids. */
  count: number;
  /** Requests, repeats included (on a hanging port: attempts accepted and never answered). */
  requests: number;
  /** Epoch ms of the first and the last new webhook-id; 0 when none. */
  firstAt: number;
  lastAt: number;
}

export interface Received {
  /** Distinct webhook-ids received on the counted ports (the phase ends when this reaches its count). */
  count: number;
  /** Requests received on the counted ports, duplicates included. */
  requests: number;
  /** Epoch ms of the first and of the last new webhook-id on the counted ports. */
  firstAt: number;
  lastAt: number;
  /** Receive time minus the time in the webhook-id's ULID (ms resolution); counted ports only. */
  latencyMs: Summary;
  /** By port, every port that got a request in the phase. */
  byPort: Record<string, PortReceived>;
  /** By port, the ports the phase asked to record (each port's postbacks in arrival order). */
  records?: Record<string, Arrivals>;
  /** The counted postbacks per bucket of time from the first one: what the bench's charts draw. */
  timeline: Timeline;
}

/**
 * Per `bucket_ms` bucket from the phase's first counted postback (the last one ends at lastAt,
 * so it may be partial): how many arrived, their enqueue→delivery p50 and p99 (ms; null: none
 * with a ULID).
 */
export interface Timeline {
  bucket_ms: number;
  /** lastAt − firstAt: where the last bucket ends. */
  span_ms: number;
  n: number[];
  p50: Array<number | null>;
  p99: Array<number | null>;
}

/** A recorded port's distinct postbacks in arrival order: epoch ms, and enqueue→delivery ms (NaN: no ULID). */
export interface Arrivals {
  at: number[];
  latencyMs: number[];
}

export type FromReceiver =
  | { type: "ready"; port: number }
  | { type: "destinations"; ports: number[] }
  | { type: "progress"; phase: string; done: number }
  | { type: "done"; phase: string; result: Received };

export type ToLoad =
  | {
      /** POST `body` to `url` `requests` times: closed loop at `concurrency`, or open loop at `ratePerSecond`. */
      type: "ingest";
      phase: string;
      url: string;
      token: string;
      body: string;
      /** When given, request i sends bodies[i % bodies.length] instead of `body` (destinations interleaved). */
      bodies?: string[];
      requests: number;
      concurrency: number;
      ratePerSecond?: number;
      /** What sends them (bench/options.ts LoadClient); undici when not given. */
      via?: LoadClient;
    }
  | {
      /** The direct baseline: `total` postbacks straight to the receiver, `concurrency` in flight. */
      type: "direct";
      phase: string;
      method: string;
      template: string;
      data: Record<string, unknown>[];
      total: number;
      concurrency: number;
    }
  | {
      /**
       * The events scenario's ingest: the generated events [0, events) (bench/events-data.ts) in
       * `requests` POST /v1/events of `batch` events, `concurrency` in flight, each answered 201.
       */
      type: "events";
      phase: string;
      url: string;
      token: string;
      events: number;
      batch: number;
      requests: number;
      concurrency: number;
      /** What sends them (bench/options.ts LoadClient); undici when not given. */
      via?: LoadClient;
    }
  | {
      /** The events scenario's queries over HTTP: each kind `perKind` times, one at a time, after a warm-up. */
      type: "event-queries";
      phase: string;
      url: string;
      token: string;
      /** How many events were stored (the sessions the queries draw from). */
      events: number;
      perKind: number;
      /** perKind × the number of kinds: what the progress bar counts. */
      requests: number;
    };

/** One kind of query, timed: latency summary and the rows it returned on average. */
export type QuerySummary = Summary & { rows: number };

export interface LoadResult {
  requests: number;
  /** Epoch ms when the first request was sent, and when the last answer came. */
  t0: number;
  t1: number;
  /** Per request: from send (open loop: from the scheduled send time) to the complete answer. */
  latencyMs: Summary;
  /** event-queries: per kind of query. */
  queries?: Record<string, QuerySummary>;
}

export type FromLoad =
  | { type: "progress"; phase: string; done: number }
  | { type: "result"; phase: string; result: LoadResult }
  | { type: "error"; phase: string; message: string };
