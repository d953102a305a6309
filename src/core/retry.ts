import type { AttemptErrorCode } from "./errors.js";

/**
 * Retry policy: what one attempt's result means for its postback. Pure: the worker feeds it
 * an attempt result and the time, and gets back a value, never an exception.
 */

export interface RetryPolicy {
  maxAttempts: number;
  /** Delay before the second attempt; doubles each attempt after. */
  baseDelayMs: number;
  /** No wait between attempts is longer than this, Retry-After included. */
  maxDelayMs: number;
}

/** What the HTTP exchange of one attempt produced. */
export type AttemptResult =
  | {
      kind: "response";
      status: number;
      retryAfter?: string | undefined;
      /** The Location header of a 3xx: never followed, but named in the attempt's reason. */
      location?: string | undefined;
    }
  /** No response: `code` is one of the attempt error codes in docs/errors.md. */
  | { kind: "error"; code: AttemptErrorCode; message: string };


/** What happens to the postback next. */
export type Decision =
  | { kind: "delivered" }
  | { kind: "retry"; at: number; reason: string }
  | { kind: "dead"; reason: string };

export function decide(
  result: AttemptResult,
  attempt: number,
  policy: RetryPolicy,
  now: number,
  random: () => number = Math.random,
): Decision {
  let reason: string;
  let retryable: boolean;
  let retryAfterMs: number | undefined;
  if (result.kind === "error") {
    reason = result.code;
    // A URL that cannot be delivered to, or may not be, will not get better by waiting.
    retryable = result.code !== "invalid_url" && result.code !== "destination_refused";
  } else {
    const { status } = result;
    if (status >= 200 && status < 300) return { kind: "delivered" };
    reason = `http_${status}`;
    const redirect = redirectNote(result);
    if (redirect !== undefined) reason += `; ${redirect}`;
    retryable = status === 408 || status === 429 || status >= 500;
    if (retryable && result.retryAfter !== undefined) {
      retryAfterMs = parseRetryAfter(result.retryAfter, now);
    }
  }
  if (!retryable) return { kind: "dead", reason };
  if (attempt >= policy.maxAttempts) return { kind: "dead", reason: `${reason}; ${attempt} attempts made` };
  let delay = backoffDelay(attempt, policy, random);
  if (retryAfterMs !== undefined) delay = Math.max(delay, Math.min(retryAfterMs, policy.maxDelayMs));
  return { kind: "retry", at: now + delay, reason };
}

/**
 * Exponential backoff with jitter: after attempt n the wait is base·2^(n-1), capped, then
 * scaled by a random factor in [0.5, 1) so that postbacks failed together do not retry in step.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp * (0.5 + random() / 2));
}

const DAY_NAME = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const TIME = "\\d{2}:\\d{2}:\\d{2}";
/** The HTTP-date forms of RFC 9110 §5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime forms. */
const GMT_DATE = new RegExp(`^(?:${DAY_NAME}, \\d{2} ${MONTH} \\d{4}|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, \\d{2}-${MONTH}-\\d{2}) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^${DAY_NAME} ${MONTH} [ \\d]\\d ${TIME} \\d{4}$`);

/** Characters of a partner's header shown in a reason or a log line. */
const SHOWN = 200;

/** A partner's header value as safe to show: control characters dropped, cut to SHOWN characters. */
export function shownHeader(value: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = value.replace(/[\u0000-\u001f\u007f]/g, "");
  return clean.length > SHOWN ? `${clean.slice(0, SHOWN)}…` : clean;
}

/**
 * What a 3xx answer says in the attempt's reason: Ferry never follows a redirect (it could
 * lead to a private address, or resend a body elsewhere), so the partner's owner must fix the
 * destination's URL. Undefined for other answers.
 */
export function redirectNote(result: AttemptResult): string | undefined {
  if (result.kind !== "response" || result.status < 300 || result.status > 399) return undefined;
  return result.location === undefined ? "redirect without a Location, not followed" : `redirect to ${shownHeader(result.location)} not followed`;
}

/**
 * A partner's Retry-After read to pause its destination (issue 14): ms from now, at most
 * `maxDelayMs` (`capped` then). "invalid" for a value that is neither delta-seconds nor an
 * HTTP date (a negative number, a fraction, garbage): treated as absent. 0 (a date past, or
 * "0"): no pause.
 */
export function retryAfterDelay(value: string, now: number, maxDelayMs: number): { ms: number; capped: boolean } | "invalid" {
  const ms = parseRetryAfter(value, now);
  if (ms === undefined || Number.isNaN(ms)) return "invalid";
  return ms > maxDelayMs ? { ms: maxDelayMs, capped: true } : { ms, capped: false };
}

/** Retry-After as delta-seconds or an HTTP date, in ms from now; undefined when unreadable. */
export function parseRetryAfter(value: string, now: number): number | undefined {
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // Only real HTTP dates: Date.parse alone reads junk such as "May 2031" as a date. asctime
  // carries no zone but is GMT; Date.parse would read it in the local zone.
  const text = GMT_DATE.test(trimmed) ? trimmed : ASCTIME_DATE.test(trimmed) ? trimmed + " GMT" : undefined;
  if (text === undefined) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
