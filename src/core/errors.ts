/**
 * Every error the API returns has a stable code, an HTTP status and a title. The message
 * (`detail`) says what to fix. docs/errors.md lists every code here; a test keeps them in step.
 */
export const API_ERRORS = {
  invalid_json: { status: 400, title: "The body is not valid JSON" },
  bad_request: { status: 400, title: "The request is malformed" },
  missing_token: { status: 401, title: "No bearer token" },
  invalid_token: { status: 401, title: "The token is not valid" },
  token_revoked: { status: 401, title: "The token was revoked" },
  admin_only: { status: 403, title: "Only the admin token may do this" },
  not_found: { status: 404, title: "No such route" },
  method_not_allowed: { status: 405, title: "Ferry takes no requests with this method" },
  request_timeout: { status: 408, title: "The request did not arrive in time" },
  postback_not_found: { status: 404, title: "No such postback" },
  account_not_found: { status: 404, title: "No such account" },
  external_id_taken: { status: 409, title: "External id taken" },
  token_not_found: { status: 404, title: "No such token" },
  destination_not_found: { status: 404, title: "No such destination" },
  destination_exists: { status: 409, title: "The account has a destination with this method and URL" },
  // fun-with-webhooks' POST /webhook (seed 003) answered 400 for both, and its clients rely on it.
  invalid_registration: { status: 400, title: "The registration does not pass fun-with-webhooks' checks" },
  already_registered: { status: 400, title: "A client with this name is registered and enabled" },
  body_too_large: { status: 413, title: "The body is too large" },
  too_many_items: { status: 413, title: "Too many data objects in one request" },
  url_too_long: { status: 414, title: "A part of the path is too long" },
  unsupported_media_type: { status: 415, title: "The body must be JSON" },
  too_deep: { status: 422, title: "The JSON body nests too deeply" },
  headers_too_large: { status: 431, title: "The request's headers are too large" },
  invalid_body: { status: 422, title: "The body must be a JSON object" },
  missing_endpoint: { status: 422, title: "endpoint is missing" },
  missing_url: { status: 422, title: "endpoint.url is missing" },
  invalid_url: { status: 422, title: "The URL is not an absolute http(s) URL" },
  invalid_method: { status: 422, title: "Unknown HTTP method" },
  invalid_default: { status: 422, title: "endpoint.default is not a string" },
  invalid_max_attempts: { status: 422, title: "endpoint.max_attempts is out of range" },
  invalid_data: { status: 422, title: "data must be a non-empty array of objects" },
  unknown_field: { status: 422, title: "The body has a field Ferry does not know" },
  invalid_field: { status: 422, title: "A field has the wrong type or form" },
  invalid_name: { status: 422, title: "name is missing or not a string" },
  invalid_metadata: { status: 422, title: "metadata must be a JSON object" },
  invalid_number: { status: 422, title: "A number is out of range" },
  timeout_too_long: { status: 422, title: "timeout_ms is longer than the lease allows" },
  invalid_headers: { status: 422, title: "headers are not allowed" },
  invalid_event_types: { status: 422, title: "event_types is not a list of event-type patterns" },
  missing_account_id: { status: 422, title: "account_id is missing" },
  invalid_query: { status: 422, title: "A query parameter is malformed" },
  invalid_type: { status: 422, title: "The push type is malformed" },
  invalid_time: { status: 422, title: "A time is malformed or out of order" },
  invalid_events: { status: 422, title: "No event of the request can be stored" },
  invalid_schema: { status: 422, title: "The JSON Schema is not one Ferry takes" },
  event_not_found: { status: 404, title: "No such event" },
  session_not_found: { status: 404, title: "No such session" },
  event_type_not_found: { status: 404, title: "No schema is registered for this category" },
  invalid_idempotency_key: { status: 422, title: "The Idempotency-Key header is malformed" },
  idempotency_key_reused: { status: 422, title: "The Idempotency-Key was used with another request" },
  idempotency_key_in_use: { status: 409, title: "A request with this Idempotency-Key is in progress" },
  postback_pending: { status: 409, title: "The postback is queued or in flight" },
  postback_held: { status: 409, title: "The postback is held: its destination is disabled" },
  postback_delivered: { status: 409, title: "The postback was delivered" },
  postback_cancelled: { status: 409, title: "The postback was cancelled" },
  profile_running: { status: 409, title: "A profile or heap snapshot is being taken already" },
  // The ADS webhook service's routes (src/compat/ads.ts) answer with its statuses, 401 for a
  // body missing a field among them.
  missing_user_id: { status: 401, title: "user_id is missing (ADS account registration)" },
  invalid_subscription: { status: 401, title: "event or url is missing (ADS subscription)" },
  invalid_trigger: { status: 400, title: "event or payload is missing or malformed (ADS trigger)" },
  account_token_revoked: { status: 409, title: "The account's token was revoked" },
  queue_unavailable: { status: 503, title: "The queue cannot take work now" },
  store_unavailable: { status: 503, title: "The store cannot be read now" },
  trusted_account_missing: { status: 503, title: "FERRY_TRUSTED_ACCOUNT names no account" },
  shutting_down: { status: 503, title: "Ferry is shutting down" },
  not_ready: { status: 503, title: "The store or the queue cannot be reached" },
  internal_error: { status: 500, title: "Internal error" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** An error meant for the caller: carries its code, message and optionally the field at fault. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;
  readonly field: string | undefined;
  readonly headers: Record<string, string> | undefined;
  /** More members of the problem body (RFC 9457 extensions), e.g. the per-event list of a batch. */
  readonly extensions: Record<string, unknown> | undefined;
  /** Not logged: the same server-side problem was logged a moment ago (a flood of requests meeting it). */
  readonly quiet: boolean;

  constructor(
    code: ApiErrorCode,
    detail: string,
    options: { field?: string; headers?: Record<string, string>; cause?: unknown; extensions?: Record<string, unknown>; quiet?: boolean } = {},
  ) {
    super(detail, { cause: options.cause });
    this.name = "ApiError";
    this.code = code;
    this.status = API_ERRORS[code].status;
    this.field = options.field;
    this.headers = options.headers;
    this.extensions = options.extensions;
    this.quiet = options.quiet ?? false;
  }
}

/** The application/problem+json body (RFC 9457) for an error. */
export function problemBody(code: ApiErrorCode, detail: string, field?: string, extensions?: Record<string, unknown>): Record<string, unknown> {
  const { status, title } = API_ERRORS[code];
  const body: Record<string, unknown> = { type: `urn:ferry:error:${code}`, title, status, code, detail };
  if (field !== undefined) body["field"] = field;
  return extensions ? { ...extensions, ...body } : body;
}

/** Codes recorded on an attempt that got no HTTP response (docs/errors.md lists them too). */
export const ATTEMPT_ERRORS = {
  timeout: "No complete response within the timeout",
  connection_refused: "The destination refused the connection",
  connection_reset: "The connection was closed before a complete response",
  dns_failure: "The destination's host name did not resolve",
  tls_failure: "The TLS handshake failed",
  network_error: "Any other network failure",
  invalid_url: "The rendered URL is not an absolute http(s) URL",
  destination_refused: "The destination is a private address, refused unless allowed",
} as const;

export type AttemptErrorCode = keyof typeof ATTEMPT_ERRORS;
