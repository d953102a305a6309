/**
 * What one attempt means, as values: the attempt record for the store, the settle for the
 * queue, the failure to count against the destination's health, and the counter to bump.
 * Pure (time and randomness come in as arguments), so every rule is a plain unit test.
 */
import type { Reservation, Settle } from "../queue/port.js";
import type { AttemptRecord, DestinationFailure } from "../store/port.js";
import type { Destination } from "../core/types.js";
import { decide, type RetryPolicy } from "../core/retry.js";
import type { SendResult } from "./sender.js";

export interface Attempt {
  reservation: Reservation;
  /** The URL as rendered (or the template, when it could not be). */
  url: string;
  sent: SendResult;
  startedAt: number;
  durationMs: number;
  /** The postback's destination, when it has one: its failures count against its health. */
  destination?: Destination | undefined;
}

export interface HealthDefaults {
  failureThreshold: number;
  failureWindowMs: number;
}

export interface Outcome {
  record: AttemptRecord;
  settle: Settle;
  failure: DestinationFailure | undefined;
  counter: "delivered" | "retried" | "dead";
}

export function outcome(a: Attempt, policy: RetryPolicy, health: HealthDefaults, now: number, random: () => number = Math.random): Outcome {
  const r = a.reservation;
  const result = a.sent.result;
  const decision = decide(result, r.attempt, policy, now, random);
  const state = decision.kind === "delivered" ? "delivered" : decision.kind === "retry" ? "failed" : "dead";
  const record: AttemptRecord = {
    postbackId: r.postbackId,
    endpoint: r.endpoint,
    data: r.data,
    createdAt: r.createdAt,
    attempt: r.attempt,
    startedAt: a.startedAt,
    durationMs: a.durationMs,
    url: a.url,
    statusCode: result.kind === "response" ? result.status : null,
    error: result.kind === "error" ? result.code : null,
    errorMessage: a.sent.errorMessage,
    responseBody: a.sent.responseBody,
    state,
    nextAttemptAt: decision.kind === "retry" ? decision.at : null,
    reason: decision.kind === "delivered" ? null : decision.reason,
  };
  return {
    record,
    settle: decision.kind === "retry" ? { kind: "retry", at: decision.at } : { kind: "done" },
    failure: a.destination && state !== "delivered" ? failureOf(a.destination, health, now) : undefined,
    counter: state === "delivered" ? "delivered" : state === "failed" ? "retried" : "dead",
  };
}

/** A failed attempt, counted against the destination with its own thresholds or the defaults. */
function failureOf(destination: Destination, health: HealthDefaults, now: number): DestinationFailure {
  return {
    destinationId: destination.id,
    at: now,
    threshold: destination.failureThreshold ?? health.failureThreshold,
    windowMs: destination.failureWindowMs ?? health.failureWindowMs,
  };
}
