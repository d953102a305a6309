/**
 * Errors the client throws. Ferry answers every refusal as application/problem+json with a
 * stable `code` (docs/errors.md); FerryError carries it as it came, so callers branch on
 * `err.code`, never on the message.
 */

/** The problem+json body Ferry sends with a 4xx or 5xx, with any extensions it adds (e.g. `events`). */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  code?: string;
  detail?: string;
  field?: string;
  [extension: string]: unknown;
}

/** Ferry refused the request: its status, code, field and detail, as Ferry sent them. */
export class FerryError extends Error {
  /** The HTTP status; 0 for a FerryNetworkError (no answer). */
  readonly status: number;
  /** Ferry's stable error code (docs/errors.md), e.g. `invalid_method`; `network_error` when no answer came. */
  readonly code: string;
  /** The request field at fault, when Ferry names one (`endpoint.method`, `[3].timestamp`). */
  readonly field: string | undefined;
  /** What to fix, in Ferry's words. */
  readonly detail: string;
  /** The whole problem body, extensions included (a refused event batch's `events`). */
  readonly problem: Problem;
  /** Retry-After of the answer in ms, when it carried one (503 shutting_down, 409 idempotency_key_in_use, 429). */
  readonly retryAfterMs: number | undefined;

  constructor(status: number, problem: Problem, retryAfterMs?: number, options?: { cause?: unknown }) {
    const code = typeof problem.code === "string" ? problem.code : `http_${status}`;
    const detail = typeof problem.detail === "string" ? problem.detail : typeof problem.title === "string" ? problem.title : `HTTP ${status}`;
    super(`${code}: ${detail}`, options);
    this.name = "FerryError";
    this.status = status;
    this.code = code;
    this.field = typeof problem.field === "string" ? problem.field : undefined;
    this.detail = detail;
    this.problem = problem;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * No answer came: the connection was refused or reset, or the answer did not arrive within
 * `timeoutMs`. The request may or may not have been handled: resend it with the same
 * Idempotency-Key (or the same event ids) to be sure it counts once.
 */
export class FerryNetworkError extends FerryError {
  constructor(detail: string, cause?: unknown) {
    super(0, { code: "network_error", detail }, undefined, { cause });
    this.name = "FerryNetworkError";
  }
}

/** Retry-After as delta-seconds or an HTTP date, in ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
