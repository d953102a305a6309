/**
 * What one attempt means, as values: the attempt record for the store, the settle for the
 * queue, the failure to count against the destination's health, and the counter to bump.
 * Pure (time and randomness come in as arguments), so every rule is a plain unit test.
 */
import type { Reservation, Settle } from "../queue/port.js";
import type { AttemptRecord, DestinationFailure } from "../store/port.js";
import type { Destination } from "../core/types.js";
import { decide, redirectNote, retryAfterDelay, shownHeader, type RetryPolicy } from "../core/retry.js";
import type { AttemptResult } from "../core/retry.js";
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
  /** Its destination is to be paused until `until`: the partner answered 429 or 503 with Retry-After. */
  pause?: Pause | undefined;
  /** A Retry-After that could not be used as sent (logged, once a minute per destination). */
  retryAfterProblem?: { value: string; problem: "invalid" | "capped" } | undefined;
  /** Its destination answered 410 Gone: to be disabled at once (reason "gone"). */
  gone?: boolean | undefined;
}

export interface Pause {
  destinationId: string;
  until: number;
  reason: string;
}

/** Why the postback of a destination that answered 410 waits (or, with on_disable drop, died). */
export const GONE_HELD = "the destination is gone (410): disabled, its postbacks held until it is enabled again";
export const GONE_DROPPED = "the destination is gone (410): disabled, and it drops what it is owed (on_disable: drop)";

export function outcome(a: Attempt, policy: RetryPolicy, health: HealthDefaults, now: number, random: () => number = Math.random): Outcome {
  const result = a.sent.result;
  const destination = a.destination;
  // 410 from a destination: the partner says the endpoint no longer exists. Retrying cannot
  // help, and it is the destination, not this one postback, that is gone.
  if (destination && result.kind === "response" && result.status === 410) return gone(a, destination);
  const decision = decide(result, a.reservation.attempt, policy, now, random);
  const state = decision.kind === "delivered" ? "delivered" : decision.kind === "retry" ? "failed" : "dead";
  const record = recordOf(a, state, decision.kind === "retry" ? decision.at : null, decision.kind === "delivered" ? null : decision.reason);
  return {
    record,
    settle: decision.kind === "retry" ? { kind: "retry", at: decision.at } : { kind: "done" },
    failure: destination && state !== "delivered" ? failureOf(destination, health, now) : undefined,
    counter: state === "delivered" ? "delivered" : state === "failed" ? "retried" : "dead",
    ...(destination ? retryAfterPause(destination, result, now, policy.maxDelayMs) : {}),
  };
}

function recordOf(a: Attempt, state: AttemptRecord["state"], nextAttemptAt: number | null, reason: string | null): AttemptRecord {
  const r = a.reservation;
  const result = a.sent.result;
  return {
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
    // A redirect is an answer, but the attempt says it was not followed, and where it led.
    errorMessage: a.sent.errorMessage ?? redirectNote(result) ?? null,
    responseBody: a.sent.responseBody,
    state,
    nextAttemptAt,
    reason,
  };
}

/**
 * Until when the worker that got this answer must send its destination nothing, decided the
 * moment the answer arrives (before the limits it held are passed on): a Retry-After pause, or
 * `goneGraceMs` after a 410 (the flush disables the destination meanwhile). 0: no pause.
 */
export function pauseAsked(destination: Destination, result: AttemptResult, now: number, maxDelayMs: number, goneGraceMs: number): number {
  if (result.kind !== "response") return 0;
  if (result.status === 410) return now + goneGraceMs;
  return retryAfterPause(destination, result, now, maxDelayMs).pause?.until ?? 0;
}

/**
 * A 429 or 503 with Retry-After pauses the whole destination (issue 14), not only this
 * postback: the partner asked for nothing until then. Capped by the longest retry delay. A
 * value Ferry cannot read is treated as absent (the postback's own backoff applies) and named,
 * to be logged.
 */
function retryAfterPause(destination: Destination, result: AttemptResult, now: number, maxDelayMs: number): Pick<Outcome, "pause" | "retryAfterProblem"> {
  if (result.kind !== "response" || (result.status !== 429 && result.status !== 503) || result.retryAfter === undefined) return {};
  const delay = retryAfterDelay(result.retryAfter, now, maxDelayMs);
  const value = shownHeader(result.retryAfter);
  if (delay === "invalid") return { retryAfterProblem: { value, problem: "invalid" } };
  const retryAfterProblem = delay.capped ? { value, problem: "capped" as const } : undefined;
  if (delay.ms <= 0) return { retryAfterProblem };
  const pause = { destinationId: destination.id, until: now + delay.ms, reason: `http_${result.status} with Retry-After: ${value}` };
  return { pause, retryAfterProblem };
}

/** The attempt that got 410 Gone from its destination: recorded; the postback held (or, with on_disable drop, dead). */
function gone(a: Attempt, destination: Destination): Outcome {
  const drop = destination.onDisable === "drop";
  const record = recordOf(a, drop ? "dead" : "failed", null, `http_410; ${drop ? GONE_DROPPED : GONE_HELD}`);
  // Not counted against endpoint health: the destination is disabled at once anyway.
  return { record, settle: drop ? { kind: "done" } : { kind: "hold" }, failure: undefined, counter: drop ? "dead" : "retried", gone: true };
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
