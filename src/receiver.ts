/**
 * A tiny HTTP receiver: records every request it gets and answers as scripted. `ferry receiver`
 * prints what arrives, so the quick start can show a postback land; the tests and the
 * benchmark use it as the partner's endpoint. It also accepts proxy-style requests
 * (`GET http://host/path`), so with FERRY_PROXY_URL pointing at it, it sees each postback's
 * full URL exactly as Ferry rendered it.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  method: string;
  /** The full URL: as sent when the request came proxy-style, else http://Host + path. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The headers as sent, name and value alternating (a header sent twice shows twice). */
  rawHeaders: string[];
  body: string;
  /** ms since the epoch */
  receivedAt: number;
}

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Drop the connection without answering. */
  hangUp?: boolean;
}

export interface ReceiverOptions {
  port?: number;
  host?: string;
  /** How to answer the n-th request (0-based); 200 "ok" when absent. */
  respond?: (request: ReceivedRequest, n: number) => Reply | undefined;
  /** Called as each request arrives. */
  onRequest?: (request: ReceivedRequest) => void;
  /** Keep each request in `requests` (default true). */
  record?: boolean;
}

export interface Receiver {
  /** http://host:port */
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Requests seen so far, recorded or not. */
  count(): number;
  /** Resolves once `n` requests have arrived; rejects after `timeoutMs`. */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startReceiver(options: ReceiverOptions = {}): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const record = options.record ?? true;
  let seen = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = req.url ?? "/";
      const received: ReceivedRequest = {
        method: req.method ?? "GET",
        url: /^https?:\/\//i.test(raw) ? raw : `http://${req.headers.host ?? "localhost"}${raw}`,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString("utf8"),
        receivedAt: Date.now(),
      };
      const n = seen++;
      if (record) requests.push(received);
      options.onRequest?.(received);
      for (const w of waiters.slice()) {
        if (seen >= w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
      const reply = options.respond?.(received, n) ?? {};
      const answer = () => {
        if (reply.hangUp) {
          req.socket.destroy();
          return;
        }
        res.writeHead(reply.status ?? 200, { "content-type": "text/plain", ...reply.headers });
        res.end(reply.body ?? "ok");
      };
      if (reply.delayMs) setTimeout(answer, reply.delayMs);
      else answer();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host && options.host !== "0.0.0.0" ? options.host : "127.0.0.1";
  return {
    url: `http://${host}:${port}`,
    port,
    requests,
    count: () => seen,
    waitFor(n, timeoutMs = 10_000) {
      if (seen >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`receiver got ${seen} of ${n} requests in ${timeoutMs} ms`)), timeoutMs);
        waiters.push({ n, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
