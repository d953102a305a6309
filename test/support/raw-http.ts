/**
 * HTTP over a raw socket, for what a well-behaved client (fastify's inject, undici) cannot send:
 * slow or partial requests, malformed request lines and headers, pipelined requests.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";

export interface Exchange {
  /** Everything the server sent, as Latin-1. */
  text: string;
  /** Whether the server closed the socket before `waitMs` ran out. */
  closed: boolean;
  ms: number;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  /** Parsed as JSON where it is JSON, else the text. */
  body: any;
  /** The body as it came, unparsed. */
  text: string;
  /** False when fewer bytes came than Content-Length said (the connection ended first). */
  complete: boolean;
}

/**
 * Opens a socket to 127.0.0.1:`port`, writes each part in turn (`pauseMs` before and after
 * `between`, which runs once, after the first part), and collects what comes back until the
 * server closes the socket or `waitMs` passes (then the socket is closed here).
 */
export function exchange(
  port: number,
  data: string | Buffer | (string | Buffer)[],
  options: { waitMs?: number; pauseMs?: number; between?: () => void } = {},
): Promise<Exchange> {
  const parts = Array.isArray(data) ? data : [data];
  const { waitMs = 2000, pauseMs = 0, between } = options;
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString("latin1"), closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", () => finish(true));
    socket.on("close", () => finish(true));
    void (async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0) {
          await new Promise((r) => setTimeout(r, pauseMs));
          if (i === 1) between?.();
          await new Promise((r) => setTimeout(r, pauseMs));
        }
        if (!socket.destroyed) socket.write(part);
      }
    })();
  });
}

/** The responses in `text`, in order (each framed by its Content-Length). */
export function parseResponses(text: string): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = text;
  while (rest.length) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) break;
    const [statusLine, ...lines] = rest.slice(0, end).split("\r\n");
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers["content-length"] ?? 0);
    const raw = rest.slice(end + 4, end + 4 + length);
    let body: unknown = raw;
    try {
      body = JSON.parse(raw);
    } catch {
      // not JSON: kept as text, and the assertions say so
    }
    out.push({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine!)?.[1]), headers, body, text: raw, complete: raw.length >= length });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

/** The first response in `text`; fails the test when there is none. */
export function firstResponse(text: string): RawResponse {
  const [first] = parseResponses(text);
  assert.ok(first, `no response: ${JSON.stringify(text)}`);
  return first;
}

/** An application/problem+json answer with this status and code. */
export function assertProblem(res: RawResponse | undefined, status: number, code: string, what: string): void {
  assert.ok(res, `${what}: no answer at all`);
  assert.equal(res.status, status, `${what}: status (body ${JSON.stringify(res.body)})`);
  assert.match(res.headers["content-type"] ?? "", /^application\/problem\+json/, `${what}: content type (body ${JSON.stringify(res.body)})`);
  assert.equal(res.body?.code, code, `${what}: code`);
  assert.equal(res.body?.status, status, `${what}: status in the body`);
}
