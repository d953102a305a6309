/**
 * buildApp(): the HTTP API as a fastify instance, separate from listen() so tests can use
 * inject(). Every error leaves as application/problem+json with a stable code.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from "fastify";
import type { Logger } from "pino";
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { Config } from "../config.js";
import type { Queue } from "../queue/port.js";
import type { Stores } from "../store/port.js";
import { API_ERRORS, ApiError, problemBody, type ApiErrorCode } from "../core/errors.js";
import { authenticate, TokenCache } from "./auth.js";
import { TrustedNetworks } from "./trusted-networks.js";
import { accountRoutes } from "./accounts.js";
import { destinationRoutes } from "./destinations.js";
import { dashboardRoutes } from "./dashboard.js";
import { ingestRoutes } from "./ingest.js";
import { postbackRoutes } from "./postbacks.js";
import { deliveryLogRoutes } from "./delivery-log.js";
import { tokenRoutes } from "./tokens.js";
import { pushRoutes } from "./push.js";
import { resendRoutes } from "./resend.js";
import { idempotency } from "./idempotency.js";
import { portProblem } from "./common.js";
import { MAX_JSON_DEPTH, nestsDeeperThan } from "./json-depth.js";
import { eventIngestRoutes, eventRoutes, type EventRouteDeps } from "./events.js";
import { eventTypeRoutes } from "./event-types.js";
import { EventSchemaCache } from "../core/event-schemas.js";
import { FanoutRunner } from "../app/fanout.js";
import { deleteExpiredEvents } from "../app/event-retention.js";
import { deleteExpiredPostbacks } from "../app/delivery-log.js";
import { MINUTE, SECOND } from "../core/time.js";
import { Profiler } from "../app/profiling.js";
import { ApiMetrics } from "./metrics.js";
import { adminRoutes } from "./admin.js";
import { mapFastifyError } from "./fastify-errors.js";
import { broadcastRoutes } from "./broadcast.js";
import { compatRoutes } from "../compat/index.js";
import { openApiRoutes, registerOpenApi } from "./openapi.js";
import { healthzSchema, readyzSchema, rootSchema } from "./schemas/meta.js";

export interface AppDeps {
  config: Config;
  queue: Queue;
  stores: Stores;
  adminTokenHash: Buffer;
  logger: Logger;
  version?: string;
  /** Called after each ingest request is queued (to wake a worker thread at once). */
  onEnqueued?: () => void;
  /** This process's metrics, for GET /metrics; by default the API's own alone. */
  metrics?: ApiMetrics;
}

/** Content types read as JSON besides application/json. */
const JSON_LIKE = /^(?:application\/(?:[\w.+-]+\+)?json|text\/plain)\s*(?:;|$)/i;

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  // Every failure of a port call names its backend, so the error handler below answers
  // queue_unavailable for the queue and store_unavailable for the store.
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // One line per attempt is logged by the worker; a line per ingest request would drown it.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.config.max_body_bytes,
    // Ids and codes are ours; fastify's request ids only clutter the logs.
    genReqId: () => "",
    // Slow clients must not hold sockets forever: a request has request_timeout_ms to arrive
    // whole and its headers have headers_timeout_ms (Node answers 408 through clientErrorHandler
    // below and closes the socket); an idle keep-alive connection is closed after
    // keep_alive_timeout_ms.
    requestTimeout: deps.config.request_timeout_ms,
    keepAliveTimeout: deps.config.keep_alive_timeout_ms,
    http: {
      headersTimeout: deps.config.headers_timeout_ms,
      // Node looks for timed-out requests only this often (30 s by default, which would let a
      // slow client hold a socket half a minute past its timeout).
      connectionsCheckingInterval: Math.max(50, Math.min(5_000, Math.floor(deps.config.headers_timeout_ms / 4))),
    },
    clientErrorHandler: answerClientError,
    frameworkErrors: (err, _request, reply) => {
      const mapped = mapFastifyError(err);
      return mapped ? sendProblem(reply, mapped.code, mapped.detail) : sendProblem(reply, "bad_request", err.message);
    },
    // The 503 during shutdown is answered by the onRequest hook below, as problem+json.
    return503OnClosing: false,
    // request.ip is the socket's peer, unless that peer is one of FERRY_TRUSTED_PROXIES: then the
    // nearest X-Forwarded-For address that is not a trusted proxy. With none, X-Forwarded-For is
    // never read, so a client cannot claim a trusted network's address by writing the header.
    trustProxy: deps.config.trustedProxies.length > 0 ? [...deps.config.trustedProxies] : false,
  });
  app.server.maxConnections = deps.config.max_connections;
  // Before any route: the OpenAPI document is made from the routes registered after it.
  await registerOpenApi(app, deps.version ?? "dev");
  const metrics = deps.metrics ?? new ApiMetrics();

  // Latency by route template (routeOptions.url, e.g. /v1/postbacks/:id), never the URL asked
  // for: an id in a label would make a series per postback.
  app.addHook("onResponse", (request, reply, done) => {
    metrics.request(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime);
    done();
  });

  // An answer sent before the body was read whole (a 401 before the body, a route that reads
  // none) leaves the rest of the body on the socket; keeping it open would let the client trickle
  // it for as long as it likes. Close the connection after such an answer.
  app.addHook("onSend", async (request, reply) => {
    if (!request.raw.complete) reply.header("connection", "close");
  });

  // While closing, requests still arriving on open connections are refused with a code and a
  // hint to retry, rather than fastify's own 503 body.
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onRequest", async (_request, reply) => {
    if (!closing) return;
    return sendProblem(reply, "shutting_down", "Ferry is shutting down; send the request again shortly (another instance or after the restart).", undefined, {
      "retry-after": "1",
      connection: "close",
    });
  });

  // %00 in the path or the query decodes to NUL, which no id, cursor or type Ferry takes holds,
  // and which Postgres cannot take as a text parameter: a lookup by it failed the statement and
  // answered 500 on the Redis + Postgres backend. Refused here once for every route.
  app.addHook("onRequest", async (request, reply) => {
    if (!/%00/.test(request.url)) return;
    return sendProblem(reply, "bad_request", "The path or query holds %00 (a NUL character), which no id or parameter Ferry takes holds; leave it out.");
  });

  // Methods some route takes; any other gets 405 rather than 404, whatever the path.
  const routed = new Set<string>();
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) routed.add(method);
  });
  // Node hands CONNECT to this event, not to fastify, and with no listener drops the socket
  // unanswered. Ferry is no proxy.
  app.server.on("connect", (_request: unknown, socket: Socket) => {
    writeProblem(socket, "method_not_allowed", "Ferry is not a proxy: CONNECT is not taken; use GET, POST, PATCH or DELETE as the README says.", {
      allow: [...routed].join(", "),
    });
  });

  // JSON sent as +json, as text/plain, or with no content type at all (the PHP ingest script's
  // clients post "raw post data") is read as JSON. /ingest.php also takes the form content type that
  // `curl -d` sets, as PHP's php://input did; anything else is 415.
  const defaultJsonParser = app.getDefaultJsonParser("error", "error");
  // Deep nesting is refused before anything recurses over the parsed value (see json-depth.ts).
  const parseJson: typeof defaultJsonParser = (request, body, done) => {
    if (nestsDeeperThan(body as string, MAX_JSON_DEPTH)) {
      done(new ApiError("too_deep", `The JSON body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep; flatten the data to at most ${MAX_JSON_DEPTH} levels.`), undefined);
      return;
    }
    defaultJsonParser(request, body, done);
  };
  // fastify's own text/plain parser would hand the route a string, never JSON; its own
  // application/json parser would skip the depth check: the parser below reads both.
  app.removeContentTypeParser(["text/plain", "application/json"]);
  app.addContentTypeParser("*", { parseAs: "string" }, (request, body, done) => {
    const type = request.headers["content-type"];
    const formOnPhp =
      request.url.split("?")[0] === "/ingest.php" && /^application\/x-www-form-urlencoded\s*(?:;|$)/i.test(type ?? "");
    if (type === undefined || JSON_LIKE.test(type) || formOnPhp) {
      parseJson(request, body as string, done);
      return;
    }
    done(new ApiError("unsupported_media_type", `Content-Type ${JSON.stringify(type)} is not taken; send JSON with Content-Type: application/json.`), undefined);
  });

  app.setErrorHandler((thrown: FastifyError | ApiError, request, reply) => {
    // A queue or store failure that no route turned into an answer of its own.
    const err = portProblem(thrown) ?? thrown;
    if (err instanceof ApiError) {
      if (err.status >= 500 && !err.quiet) request.log.error({ err: err.cause ?? err, code: err.code }, err.message);
      return sendProblem(reply, err.code, err.message, err.field, err.headers, err.extensions);
    }
    const mapped = mapFastifyError(err);
    if (mapped) return sendProblem(reply, mapped.code, mapped.detail);
    // A 5xx: the cause goes to the log, the caller gets a generic body.
    request.log.error({ err, method: request.method, url: request.url }, "unhandled error");
    return sendProblem(reply, "internal_error", "Something went wrong on Ferry's side; it has been logged.");
  });

  app.setNotFoundHandler((request, reply) => {
    if (!routed.has(request.method)) {
      reply.header("allow", [...routed].join(", "));
      return sendProblem(reply, "method_not_allowed", `No route takes ${request.method}; use GET, POST, PATCH or DELETE as the README says.`);
    }
    return sendProblem(reply, "not_found", `No route ${request.method} ${request.url.split("?")[0]}. See the README for the API.`);
  });

  app.get("/", { schema: rootSchema }, async () => ({ name: "ferry", version: deps.version ?? "dev", docs: "See README.md" }));
  app.get("/healthz", { schema: healthzSchema }, async () => ({ status: "ok" }));
  app.get("/readyz", { schema: readyzSchema }, async () => {
    const failures: string[] = [];
    // Each backend's own message, prefixed with which one failed.
    await deps.stores.ping().catch((err: Error) => failures.push(`store: ${err.message}`));
    await deps.queue.ping().catch((err: Error) => failures.push(`queue: ${err.message}`));
    if (failures.length) throw new ApiError("not_ready", failures.join("; "));
    return { status: "ready" };
  });
  // The dashboard's static files: no token (they hold no data); its API calls carry one.
  dashboardRoutes(app);
  // The OpenAPI document and the browsable docs: no token either (src/api/openapi.ts).
  await openApiRoutes(app);

  // Stored events fan out from here, off the request path (src/app/fanout.ts), and expire here.
  const fanout = new FanoutRunner(deps, deps.config, {
    // Per round, Postgres walks the outbox's dead entries from its start (with autovacuum off
    // they pile up): 2,000 a round drains a backlog 8× faster than 500 did (docs/benchmarks.md).
    batch: 2000,
    sweepMs: 1 * SECOND,
    graceMs: 5 * SECOND,
    onQueued: (postbacks) => {
      metrics.ingested("fanout", postbacks);
      deps.onEnqueued?.();
    },
    onError: (err) => deps.logger.warn({ err }, "could not fan out stored events; they stay on the outbox and are tried again"),
  });
  fanout.start();
  const retention = startEventRetention(deps);
  app.addHook("onClose", async () => {
    retention.stop();
    await fanout.stop();
  });
  const events: EventRouteDeps = {
    ...deps,
    schemas: new EventSchemaCache(),
    onEventsStored: () => fanout.kick(),
    onEventsReceived: (stored, refused) => metrics.events(stored, refused),
  };
  const counted = (route: "ingest" | "push" | "compat" | "broadcast") => ({
    ...deps,
    onEnqueued: (postbacks: number) => {
      metrics.ingested(route, postbacks);
      deps.onEnqueued?.();
    },
  });

  const tokenCache = new TokenCache();
  const trusted = trustedNetworks(deps);
  app.decorateRequest("caller", null as never);
  // The seed systems' own APIs (FERRY_COMPAT): each authenticates its requests itself.
  const compat = counted("compat");
  await compatRoutes(app, { ...deps, tokenCache, onEnqueued: compat.onEnqueued });

  // Every route below needs a token: the admin's or an account's (request.caller says which).
  await app.register(async (authed) => {
    authed.addHook("onRequest", authenticate({ adminTokenHash: deps.adminTokenHash, stores: deps.stores, tokenCache, trusted }));
    // The ways data comes in take an Idempotency-Key.
    await authed.register(async (ingest) => {
      idempotency(ingest, { stores: deps.stores, queue: deps.queue, ttlMs: deps.config.idempotency_ttl_ms });
      ingestRoutes(ingest, counted("ingest"));
      pushRoutes(ingest, counted("push"));
      eventIngestRoutes(ingest, events);
    });
    eventRoutes(authed, events);
    eventTypeRoutes(authed, events);
    resendRoutes(authed, deps);
    postbackRoutes(authed, deps);
    deliveryLogRoutes(authed, deps);
    accountRoutes(authed, { ...deps, tokenCache });
    tokenRoutes(authed, { ...deps, tokenCache });
    destinationRoutes(authed, deps);
    adminRoutes(authed, { metrics, profiler: new Profiler(deps.config.data_dir) });
  });
  // Outside the scope above: the provider token is no account token (src/api/broadcast.ts).
  await app.register(async (scope) => broadcastRoutes(scope, { ...counted("broadcast"), tokenCache }));
  return app;
}

/** FERRY_TRUSTED_NETWORKS, when set, announced loudly: it lets requests in without a token. */
function trustedNetworks(deps: AppDeps): TrustedNetworks | undefined {
  const { trustedNetworks: networks, trustedProxies: proxies, trusted_account: account } = deps.config;
  if (!networks) return undefined;
  // BlockList keeps its rules as text ("Subnet: IPv4 127.0.0.1/32"), newest first.
  const names = [...networks.rules].reverse().map((rule) => rule.replace(/^\w+: IPv[46] /, ""));
  deps.logger.warn(
    { trustedNetworks: names, trustedProxies: proxies, trustedAccount: account ?? "admin" },
    `trusted networks are on: requests without a token from ${names.join(", ")} may use POST /ingest, /ingest.php and /v1/events as ${account ? `account ${account}` : "the admin"}`,
  );
  return new TrustedNetworks(networks, account, deps.stores);
}

function sendProblem(
  reply: FastifyReply,
  code: ApiErrorCode,
  detail: string,
  field?: string,
  headers?: Record<string, string>,
  extensions?: Record<string, unknown>,
): FastifyReply {
  const body = problemBody(code, detail, field, extensions);
  if (headers) reply.headers(headers);
  return reply.code(body["status"] as number).type("application/problem+json").send(body);
}

/**
 * Errors Node meets before there is a request to route (a malformed request line or header, a
 * timeout, headers too large): answered on the raw socket as problem+json, then the socket is
 * closed, since what follows on it cannot be trusted.
 */
function answerClientError(this: FastifyInstance, err: Error & { code?: string }, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const [code, detail] = clientErrorProblem(err.code);
  this.log.debug({ err }, "client error");
  // Nothing can be written once an answer has begun on this socket.
  const busy = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (socket.writable && !busy) return writeProblem(socket, code, detail);
  socket.destroy();
}

/** Answers on a raw socket, outside fastify, and closes it. */
function writeProblem(socket: Socket, code: ApiErrorCode, detail: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(problemBody(code, detail));
  const status = API_ERRORS[code].status;
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`,
  );
  // A client that never reads its answer must not hold the socket either.
  setTimeout(() => socket.destroy(), 1_000).unref();
}

function clientErrorProblem(code: string | undefined): [ApiErrorCode, string] {
  switch (code) {
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return ["request_timeout", "The request did not arrive whole in time (FERRY_HEADERS_TIMEOUT_MS for the headers, FERRY_REQUEST_TIMEOUT_MS for all of it); the connection is closed."];
    case "HPE_HEADER_OVERFLOW":
      return ["headers_too_large", "The request's headers are larger than 16 KiB; send fewer or shorter headers."];
    case "HPE_INVALID_METHOD":
      return ["bad_request", "The request line is malformed or its method is unknown; use GET, POST, PATCH or DELETE as the README says."];
    case "HPE_UNEXPECTED_CONTENT_LENGTH":
      return ["bad_request", "The request has both Content-Length and Transfer-Encoding; send one."];
    case "HPE_INVALID_CONTENT_LENGTH":
      return ["bad_request", "Content-Length is not a non-negative whole number."];
    case "HPE_INVALID_HEADER_TOKEN":
    case "HPE_LF_EXPECTED":
    case "HPE_CR_EXPECTED":
      return ["bad_request", "A header name or value holds a character HTTP does not allow (CR, LF, NUL or another control character)."];
  }
  return ["bad_request", `The HTTP request is malformed (${code ?? "unknown parse error"}).`];
}


/**
 * Deletes expired events, then expired postbacks (FERRY_RETENTION), every few minutes (first soon after start). One pass at a time; a
 * pass stops between batches once the app closes.
 */
function startEventRetention(deps: AppDeps): { stop(): void } {
  let stopped = false;
  let running = false;
  const pass = async () => {
    if (running || stopped) return;
    running = true;
    try {
      const { deleted, byAccount } = await deleteExpiredEvents(deps, { defaultRetentionMs: deps.config.event_retention, batch: 500, shouldStop: () => stopped });
      if (deleted > 0) deps.logger.info({ deleted, accounts: Object.fromEntries(byAccount) }, `deleted ${deleted} events past their retention`);
    } catch (err) {
      deps.logger.warn({ err }, "could not delete expired events; trying again at the next pass");
    }
    try {
      // The delivery log (FERRY_RETENTION): finished postbacks and their attempts.
      const deleted = await deleteExpiredPostbacks(deps, { retentionMs: deps.config.retention, batch: 500, shouldStop: () => stopped });
      if (deleted > 0) deps.logger.info({ deleted }, `deleted ${deleted} postbacks past FERRY_RETENTION`);
    } catch (err) {
      deps.logger.warn({ err }, "could not delete expired postbacks; trying again at the next pass");
    } finally {
      running = false;
    }
  };
  const first = setTimeout(() => void pass(), 10 * SECOND).unref();
  const every = setInterval(() => void pass(), 5 * MINUTE).unref();
  return {
    stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(every);
    },
  };
}
