/**
 * The store port: what happened to every postback — its endpoint, data, state and attempts.
 * Written by workers after each attempt, in batches; read by the API. In Ferry's words, with
 * no SQL type in it; every adapter passes test/conformance/store.ts.
 */
import type { Endpoint, PostbackState } from "../core/types.js";
import type { AttemptErrorCode } from "../core/errors.js";

/** One attempt: when, where, and what came back. */
export interface Attempt {
  attempt: number;
  /** ms since the epoch */
  startedAt: number;
  durationMs: number;
  /** The URL the attempt was sent to. */
  url: string;
  /** null when no response came. */
  statusCode: number | null;
  /** Set when no response came. */
  error: AttemptErrorCode | null;
  errorMessage: string | null;
  /** The first bytes of the response body. */
  responseBody: string | null;
}

/** One attempt and the postback state it leads to: what a worker records. */
export interface AttemptRecord extends Attempt {
  postbackId: string;
  endpoint: Endpoint;
  /** The data object as JSON text. */
  data: string;
  createdAt: number;
  /** The postback's state after this attempt: failed means a retry is scheduled. */
  state: Exclude<PostbackState, "pending">;
  nextAttemptAt: number | null;
  /** Why the postback is dead, or why this attempt failed. */
  reason: string | null;
}

/** A postback with its whole history. */
export interface PostbackRecord {
  id: string;
  endpoint: Endpoint;
  data: string;
  state: PostbackState;
  createdAt: number;
  updatedAt: number;
  nextAttemptAt: number | null;
  reason: string | null;
  attempts: Attempt[];
}

export interface Store {
  /** Records attempts and the state they lead to, atomically, in one round trip where it can. */
  recordAttempts(records: AttemptRecord[]): Promise<void>;
  /** A postback with its attempts, or undefined if no attempt was recorded for it yet. */
  getPostback(id: string): Promise<PostbackRecord | undefined>;
  /** Rejects when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
