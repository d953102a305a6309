/**
 * One request to Ferry: the bearer token, a per-request timeout, problem+json turned into a
 * FerryError and no answer at all into a FerryNetworkError. Requests go through openapi-fetch
 * (path parameters, query strings and JSON bodies serialized the OpenAPI way).
 */
import createClient from "openapi-fetch";
import { FerryError, FerryNetworkError, parseRetryAfter, type Problem } from "./errors.js";
import type { paths } from "./openapi.js";

export type FetchLike = (input: Request) => Promise<Response>;

export interface TransportOptions {
  /** Ferry's base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  /** The admin token or an account token, sent as `Authorization: Bearer`. */
  token: string;
  fetch?: ((input: Request) => Promise<Response>) | undefined;
  /** Per request; 30 s when not given, 0 for none. */
  timeoutMs?: number | undefined;
  /** Headers sent with every request (a User-Agent, say). */
  headers?: Record<string, string> | undefined;
}

export interface RequestOptions {
  path?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string | undefined>;
}

export interface Answer<T> {
  data: T;
  status: number;
  headers: Headers;
}

type Method = "get" | "post" | "put" | "patch" | "delete";

/** The one call of openapi-fetch the transport uses, typed loosely: paths are checked in the client's methods. */
type LooseRequest = (method: Method, path: string, init: Record<string, unknown>) => Promise<{ data?: unknown; error?: unknown; response: Response }>;

export const DEFAULT_TIMEOUT_MS = 30_000;

export class Transport {
  readonly #request: LooseRequest;
  readonly #timeoutMs: number;

  constructor(options: TransportOptions) {
    const userFetch = options.fetch;
    const client = createClient<any>({
      baseUrl: options.url,
      headers: { ...options.headers, authorization: `Bearer ${options.token}` },
      ...(userFetch ? { fetch: (request: Request) => userFetch(request) } : {}),
    });
    this.#request = client.request as unknown as LooseRequest;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /**
   * Sends the request; resolves with a 2xx answer, rejects with FerryError or FerryNetworkError.
   * `path` is a route of docs/openapi.json as written there (`/v1/accounts/{id}`, its parameters
   * in `options.path`): a route the document no longer has fails to compile.
   */
  async send<T>(method: Method, path: keyof paths, options: RequestOptions = {}): Promise<Answer<T>> {
    const query = options.query ? Object.fromEntries(Object.entries(options.query).filter(([, v]) => v !== undefined)) : undefined;
    const headers = options.headers ? Object.fromEntries(Object.entries(options.headers).filter(([, v]) => v !== undefined)) : undefined;
    const init: Record<string, unknown> = { params: { path: options.path, query }, headers };
    if (options.body !== undefined) init["body"] = options.body;
    if (this.#timeoutMs > 0) init["signal"] = AbortSignal.timeout(this.#timeoutMs);
    let answer: Awaited<ReturnType<LooseRequest>>;
    try {
      answer = await this.#request(method, path, init);
    } catch (err) {
      throw networkError(err, this.#timeoutMs);
    }
    const { response } = answer;
    if (response.ok) return { data: answer.data as T, status: response.status, headers: response.headers };
    throw new FerryError(response.status, problemOf(answer.error, response.status), parseRetryAfter(response.headers.get("retry-after")));
  }
}

function problemOf(error: unknown, status: number): Problem {
  if (error !== null && typeof error === "object" && !Array.isArray(error)) return error as Problem;
  // Not Ferry's problem+json (a proxy's HTML page, say): keep its start as the detail.
  const text = typeof error === "string" && error !== "" ? error.slice(0, 500) : `HTTP ${status} with no problem body`;
  return { status, detail: text };
}

function networkError(err: unknown, timeoutMs: number): FerryError {
  if (err instanceof FerryError) return err;
  const name = (err as { name?: unknown } | null)?.name;
  if (name === "TimeoutError") return new FerryNetworkError(`No answer within ${timeoutMs} ms (timeoutMs).`, err);
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  const why = typeof cause?.code === "string" ? cause.code : err instanceof Error ? err.message : String(err);
  return new FerryNetworkError(`No answer from Ferry: ${why}.`, err);
}
