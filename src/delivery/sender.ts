/**
 * Sends one attempt over HTTP with undici: keep-alive pools per origin, a timeout covering the
 * whole exchange, the first bytes of the response kept. Never throws for a network failure:
 * the result is a value the retry policy reads.
 */
import { Agent, ProxyAgent, request, type Dispatcher } from "undici";
import type { AttemptResult } from "../core/retry.js";
import type { AttemptErrorCode } from "../core/errors.js";
import type { HttpMethod } from "../core/types.js";

export interface SenderOptions {
  /** Connections kept per origin: the most requests in flight to one origin. */
  connectionsPerOrigin: number;
  /** Bytes of each response body kept for the record. */
  responseBodyBytes: number;
  proxyUrl?: string | undefined;
}

export interface Outgoing {
  method: HttpMethod;
  url: string;
  headers: Record<string, string>;
  body: string | undefined;
  timeoutMs: number;
}

export interface SendResult {
  result: AttemptResult;
  /** The first bytes of the response body, when there was a response. */
  responseBody: string | null;
  /** Set when no response came. */
  errorMessage: string | null;
}

/** Bytes of a response read before the connection is dropped instead of drained. */
const DRAIN_LIMIT = 1024 * 1024;

export class Sender {
  private readonly dispatcher: Dispatcher;
  private readonly responseBodyBytes: number;

  constructor(options: SenderOptions) {
    const pool = {
      connections: options.connectionsPerOrigin,
      keepAliveTimeout: 30_000,
      // The worker's own timer bounds each attempt; these only stop a stuck socket.
      headersTimeout: 0,
      bodyTimeout: 0,
    };
    this.dispatcher = options.proxyUrl
      ? new ProxyAgent({ uri: options.proxyUrl, proxyTunnel: false, ...pool })
      : new Agent(pool);
    this.responseBodyBytes = options.responseBodyBytes;
  }

  /** Sends the request; `signal` aborts it (timeout or shutdown, told apart by the caller). */
  async send(out: Outgoing, signal: AbortSignal): Promise<SendResult> {
    try {
      const res = await request(out.url, {
        method: out.method,
        headers: out.headers,
        body: out.body,
        dispatcher: this.dispatcher,
        signal,
      });
      const responseBody = await this.readStart(res.body);
      const retryAfter = res.headers["retry-after"];
      return {
        result: {
          kind: "response",
          status: res.statusCode,
          retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
        },
        responseBody,
        errorMessage: null,
      };
    } catch (err) {
      const code = signal.aborted ? "timeout" : classifyError(err);
      const message = signal.aborted ? `no complete response within the timeout` : describe(err);
      return { result: { kind: "error", code, message }, responseBody: null, errorMessage: message };
    }
  }

  private async readStart(body: Dispatcher.ResponseData["body"]): Promise<string> {
    const limit = this.responseBodyBytes;
    const kept: Buffer[] = [];
    let size = 0;
    let read = 0;
    // Read to the end so the connection can be reused; keep only the start.
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (size < limit) {
        const part = chunk.length > limit - size ? chunk.subarray(0, limit - size) : chunk;
        kept.push(part);
        size += part.length;
      }
      read += chunk.length;
      if (read > DRAIN_LIMIT) {
        body.destroy();
        break;
      }
    }
    // Streaming decode leaves out a character the byte limit cut in two, instead of a U+FFFD.
    return new TextDecoder("utf-8").decode(Buffer.concat(kept, size), { stream: true });
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  if (typeof e?.cause?.code === "string") return e.cause.code;
  return typeof e?.code === "string" ? e.code : "";
}

export function classifyError(err: unknown): AttemptErrorCode {
  const code = errorCode(err);
  const name = (err as Error)?.name;
  if (name === "TimeoutError" || code.endsWith("_TIMEOUT") || code === "ETIMEDOUT") return "timeout";
  if (code === "ECONNREFUSED") return "connection_refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NODATA") return "dns_failure";
  if (code === "ECONNRESET" || code === "EPIPE" || code === "UND_ERR_SOCKET" || code === "UND_ERR_CLOSED") return "connection_reset";
  if (code.startsWith("ERR_TLS") || code.startsWith("ERR_SSL") || code.includes("CERT") || code === "DEPTH_ZERO_SELF_SIGNED_CERT") return "tls_failure";
  if (code === "UND_ERR_INVALID_ARG" || code === "ERR_INVALID_URL") return "invalid_url";
  return "network_error";
}

function describe(err: unknown): string {
  const e = err as Error & { cause?: Error };
  const cause = e?.cause?.message && e.cause.message !== e.message ? `: ${e.cause.message}` : "";
  return `${e?.message ?? String(err)}${cause}`.slice(0, 500);
}
