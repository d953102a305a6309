/**
 * Messages between the bench's parent and its two helper processes (IPC of child_process.fork):
 * the receiver (bench/receiver-process.ts) and the load generator (bench/load-process.ts).
 */
import type { Summary } from "./stats.js";

export type ToReceiver = { type: "expect"; phase: string; count: number };

export interface Received {
  /** Distinct webhook-ids received in the phase (the phase ends when this reaches its count). */
  count: number;
  /** Requests received, duplicates included. */
  requests: number;
  /** Epoch ms of the first and of the last request of the phase. */
  firstAt: number;
  lastAt: number;
  /** Receive time minus the time in the webhook-id's ULID (ms resolution). */
  latencyMs: Summary;
}

export type FromReceiver =
  | { type: "ready"; port: number }
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
      requests: number;
      concurrency: number;
      ratePerSecond?: number;
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
    };

export interface LoadResult {
  requests: number;
  /** Epoch ms when the first request was sent, and when the last answer came. */
  t0: number;
  t1: number;
  /** Per request: from send (open loop: from the scheduled send time) to the complete answer. */
  latencyMs: Summary;
}

export type FromLoad =
  | { type: "progress"; phase: string; done: number }
  | { type: "result"; phase: string; result: LoadResult }
  | { type: "error"; phase: string; message: string };
