/**
 * Sends one attempt over HTTP with undici: keep-alive pools per origin, a timeout covering the
 * whole exchange, the first bytes of the response kept. Never throws for a network failure:
 * the result is a value the retry policy reads.
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import { Agent, ProxyAgent, buildConnector, type Dispatcher } from "undici";
import { allowsAddress, classifyAddress, type Allowlist } from "../core/addresses.js";
import type { AttemptResult } from "../core/retry.js";
import type { AttemptErrorCode } from "../core/errors.js";
import type { HttpMethod } from "../core/types.js";
import { Exchange } from "./exchange.js";
import { Targets } from "./targets.js";

export interface SenderOptions {
  /** Connections kept per origin: the most requests in flight to one origin. */
  connectionsPerOrigin: number;
  /** Bytes of each response body kept for the record. */
  responseBodyBytes: number;
  proxyUrl?: string | undefined;
  /** Deliver to private addresses too (FERRY_ALLOW_PRIVATE_DESTINATIONS). */
  allowPrivate?: boolean;
  /** Private destinations delivered to all the same (FERRY_DESTINATION_ALLOWLIST). */
  allowlist?: Allowlist | undefined;
  /** Resolves host names; dns.lookup by default. Tests install `localOnlyLookup`. */
  lookup?: LookupFunction | undefined;
}

export interface Outgoing {
  method: HttpMethod;
  url: string;
  /** An object, or a flat array of names and values (built once per destination by the worker). */
  headers: Record<string, string> | string[];
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

/**
 * Bytes of response headers accepted (Node's default, set here so no NODE_OPTIONS can raise
 * it): a partner sending more fails the attempt (network_error, "Headers Overflow").
 */
const MAX_HEADER_BYTES = 16 * 1024;

export class Sender {
  private readonly dispatcher: Dispatcher;
  private readonly responseBodyBytes: number;
  private readonly targets = new Targets();

  constructor(options: SenderOptions) {
    const pool = {
      connections: options.connectionsPerOrigin,
      keepAliveTimeout: 30_000,
      // Each exchange's own timer bounds its attempt, queueing and connecting included.
      headersTimeout: 0,
      bodyTimeout: 0,
      maxHeaderSize: MAX_HEADER_BYTES,
    };
    // Through a proxy, the proxy resolves names and connects: the guard would only see the
    // proxy's own address, which the operator chose. Give the proxy its own egress rules.
    this.dispatcher = options.proxyUrl
      ? new ProxyAgent({ uri: options.proxyUrl, proxyTunnel: false, ...pool })
      : new Agent({
          ...pool,
          connect: options.allowPrivate
            ? options.lookup && ({ lookup: options.lookup } as buildConnector.BuildOptions)
            : guardedConnector(options.allowlist, options.lookup ?? dnsLookup),
        });
    this.responseBodyBytes = options.responseBodyBytes;
  }

  /**
   * Starts sending the request: its exchange settles with the result, within `out.timeoutMs`
   * (the whole exchange), or at once when `abort()` is called (shutdown).
   */
  start(out: Outgoing): Exchange {
    const target = this.targets.target(out.url);
    if (typeof target === "string") {
      const message = `the URL "${out.url.slice(0, 200)}" ${target}; nothing was sent`;
      return Exchange.done({ result: { kind: "error", code: "invalid_url", message }, responseBody: null, errorMessage: message });
    }
    const exchange = new Exchange(this.responseBodyBytes, out.timeoutMs, failed);
    // Errors, synchronous ones (an invalid header) included, reach the exchange's onResponseError.
    this.dispatcher.dispatch({ origin: target.origin, path: target.path, method: out.method, headers: out.headers, body: out.body ?? null }, exchange);
    return exchange;
  }

  /** Sends the request and waits for its result (start(out).result): for callers that never abort it. */
  send(out: Outgoing): Promise<SendResult> {
    return this.start(out).result;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /** Drops every connection and request now, unlike `close`, which lets them finish. */
  async destroy(): Promise<void> {
    await this.dispatcher.destroy();
  }
}

/** An attempt that got no response: its error, classified. */
function failed(err: Error): SendResult {
  const message = describe(err);
  return { result: { kind: "error", code: classifyError(err), message }, responseBody: null, errorMessage: message };
}

function errorCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  if (typeof e?.cause?.code === "string") return e.cause.code;
  return typeof e?.code === "string" ? e.code : "";
}

/** Carried by the error of a connection the guard refused. */
const REFUSED = "EFERRY_DESTINATION_REFUSED";

function refusal(host: string, address: string, cls: string): Error {
  const shown = host === address ? address : `${host} (${address})`;
  return Object.assign(
    new Error(`${shown} is a ${cls.replace("_", "-")} address; set FERRY_ALLOW_PRIVATE_DESTINATIONS=true or list it in FERRY_DESTINATION_ALLOWLIST to deliver there`),
    { code: REFUSED },
  );
}

/**
 * A connector that refuses private addresses where the connection is made: IP literals before
 * connecting, host names on every address DNS gives (so a name that resolves inward, or is
 * rebound to, is refused too). Redirects are never followed (undici's default), so a public
 * address cannot bounce a postback inward either.
 */
function guardedConnector(allowlist: Allowlist | undefined, resolve: LookupFunction): buildConnector.connector {
  const allowed = (host: string, address: string): boolean =>
    allowlist !== undefined && (allowlist.hosts.has(host.toLowerCase()) || allowsAddress(allowlist, address));
  const lookup: LookupFunction = (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, result) => {
      if (err) return callback(err, "", 0);
      const addresses = result as unknown as LookupAddress[];
      for (const { address } of addresses) {
        const cls = classifyAddress(address);
        if (cls && !allowed(hostname, address)) return callback(refusal(hostname, address, cls), "", 0);
      }
      if (options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
  const connect = buildConnector({ lookup } as buildConnector.BuildOptions);
  return (opts, callback) => {
    const host = opts.hostname.replace(/^\[|\]$/g, "");
    const cls = isIP(host) ? classifyAddress(host) : undefined;
    if (cls && !allowed(host, host)) {
      callback(refusal(host, host, cls), null);
      return;
    }
    connect(opts, callback);
  };
}

/** Carried by the error of a name `localOnlyLookup` refused to resolve. */
const NOT_LOCAL = "EFERRY_TEST_ONLY_LOCAL_DNS";

/**
 * A lookup for tests (FERRY_TEST_ONLY_LOCAL_DNS): resolves `localhost` only. Tests must never
 * depend on outside DNS, nor send a postback anywhere but this machine; any other name is
 * refused (no query is made) and handed to `onRefused`, which makes the test run fail.
 */
export function localOnlyLookup(onRefused: (err: Error) => void): LookupFunction {
  return (hostname, options, callback) => {
    if (hostname.toLowerCase() === "localhost") return dnsLookup(hostname, options, callback);
    const err = Object.assign(
      new Error(`FERRY_TEST_ONLY_LOCAL_DNS is set: tests may resolve only localhost, and "${hostname}" was to be resolved`),
      { code: NOT_LOCAL },
    );
    callback(err, "", 0);
    onRefused(err);
  };
}

export function classifyError(err: unknown): AttemptErrorCode {
  const code = errorCode(err);
  if (code === REFUSED) return "destination_refused";
  const name = (err as Error)?.name;
  if (name === "TimeoutError" || code.endsWith("_TIMEOUT") || code === "ETIMEDOUT") return "timeout";
  if (code === "ECONNREFUSED") return "connection_refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NODATA" || code === NOT_LOCAL) return "dns_failure";
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
