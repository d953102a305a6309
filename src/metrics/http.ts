/**
 * The metrics port (FERRY_METRICS_PORT): a plain node:http server answering GET /metrics with
 * no token, for a Prometheus inside the network, and nothing else. Apart from the API so that
 * the API port can stay public while this one is reachable only from the scraper, and so that a
 * `ferry worker`, which has no API, can be scraped at all.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface MetricsServer {
  /** http://host:port */
  url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(
  options: { host: string; port: number },
  metrics: { contentType: string; render(): Promise<string> },
  onError: (err: unknown) => void,
): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? "").split("?")[0];
    if (path !== "/metrics") return answer(404, "text/plain; charset=utf-8", "Only /metrics is served on this port.\n");
    if (request.method !== "GET" && request.method !== "HEAD") return answer(405, "text/plain; charset=utf-8", "Use GET.\n", { allow: "GET, HEAD" });
    metrics.render().then(
      (text) => answer(200, metrics.contentType, request.method === "HEAD" ? "" : text),
      (err: unknown) => {
        onError(err);
        answer(500, "text/plain; charset=utf-8", "The metrics could not be collected; see the log.\n");
      },
    );

    function answer(status: number, type: string, body: string, headers: Record<string, string> = {}) {
      response.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body), ...headers });
      response.end(body);
    }
  });
  // A scraper keeps one connection open between scrapes; a slow or silent client is not kept.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    // Not EADDRINUSE itself: the CLI would blame FERRY_PORT for it.
    const failed = (err: NodeJS.ErrnoException) =>
      reject(err.code === "EADDRINUSE" ? new Error(`FERRY_METRICS_PORT ${options.port} is in use; set another port`) : err);
    server.once("error", failed);
    server.listen(options.port, options.host, () => {
      server.off("error", failed);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address.includes(":") ? `[${address}]` : address}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
