/** The HTTP methods a postback can be delivered with. */
export const HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export function isHttpMethod(value: unknown): value is HttpMethod {
  return typeof value === "string" && (HTTP_METHODS as readonly string[]).includes(value);
}

/** Methods whose postback carries the data object as a JSON body. */
export function sendsBody(method: HttpMethod): boolean {
  return method === "POST" || method === "PUT" || method === "PATCH";
}

/**
 * Where and how the postbacks of one ingest request are delivered. It is stored once per
 * ingest request and shared by all its postbacks: the template travels once, not per postback.
 */
export interface Endpoint {
  /** Names this content: two endpoints with one id are the same endpoint (see core/ids.ts). */
  id: string;
  method: HttpMethod;
  /** URL template with `{key}` placeholders. */
  url: string;
  /** What an unmatched or null `{key}` becomes. */
  defaultValue: string;
  /** Attempts before the postback is dead. */
  maxAttempts: number;
}

/** The state of a postback, as the API and the store report it. */
export type PostbackState = "pending" | "delivered" | "failed" | "dead";
