/**
 * One attempt's HTTP exchange, as an undici dispatch handler: no Readable, no async iterator,
 * no AbortSignal. It keeps the first bytes of the body, reads on to a limit, and settles
 * `result` exactly once: on the response's end, on an error, on its timeout (which covers the
 * whole exchange, queueing and connecting included) or when aborted (shutdown).
 */
import { isAscii } from "node:buffer";
import type { Dispatcher } from "undici";
import type { SendResult } from "./sender.js";

/** Bytes of a response read before the connection is dropped instead of drained. */
export const DRAIN_LIMIT = 1024 * 1024;

/** How an exchange was cut short, if it was. */
export type CutShort = "timeout" | "aborted" | undefined;

type Controller = Dispatcher.DispatchController;
type Headers = Record<string, string | string[] | undefined>;

/** Told apart from any error undici reports: the reason this exchange ended it. */
const TIMED_OUT = Object.assign(new Error("no complete response within the timeout"), { code: "EFERRY_TIMEOUT" });
const ABORTED = Object.assign(new Error("aborted before a complete response"), { code: "EFERRY_ABORTED" });

/** Streaming decode leaves out a character the byte limit cut in two, instead of a U+FFFD. */
const decoder = new TextDecoder("utf-8");

export class Exchange implements Dispatcher.DispatchHandler {
  /** Settles once with the attempt's result; never rejects. */
  readonly result: Promise<SendResult>;
  /** Set when the timeout or `abort()` ended the exchange before it completed. */
  cutShort: CutShort = undefined;
  private settle!: (sent: SendResult) => void;
  private settled = false;
  private controller: Controller | undefined;
  private timer: NodeJS.Timeout | undefined;
  private status = 0;
  private retryAfter: string | undefined;
  private location: string | undefined;
  /** The body's start: one chunk (the usual case) or several. */
  private kept: Buffer | Buffer[] | undefined;
  private keptBytes = 0;
  private read = 0;

  constructor(
    private readonly limit: number,
    timeoutMs: number,
    /** Maps an error undici reports to the attempt's result. */
    private readonly failed: (err: Error) => SendResult,
  ) {
    this.result = new Promise((resolve) => (this.settle = resolve));
    // One timer per attempt (Node's timers are a cheap list per duration; the cost that
    // showed in profiles was the AbortSignal and its event target, not the timer).
    if (timeoutMs > 0) this.timer = setTimeout(timeUp, timeoutMs, this);
  }

  /** An exchange that ended before anything was sent (its URL refused). */
  static done(sent: SendResult): Exchange {
    const e = new Exchange(0, 0, () => sent);
    e.finish(sent);
    return e;
  }

  /** Ends the exchange now (shutdown); a no-op once it has ended. */
  abort(): void {
    this.cut("aborted", ABORTED);
  }

  /** @internal the timer's callback. */
  cut(why: "timeout" | "aborted", reason: Error): void {
    if (this.settled) return;
    this.cutShort = why;
    // Settled at once, even when the request still waits for a connection: the timeout covers
    // the whole exchange. The request is then dropped when it would start (onRequestStart).
    this.finish({ result: { kind: "error", code: "timeout", message: TIMED_OUT.message }, responseBody: null, errorMessage: TIMED_OUT.message });
    this.controller?.abort(reason);
  }

  onRequestStart(controller: Controller): void {
    if (this.settled) {
      controller.abort(this.cutShort === "timeout" ? TIMED_OUT : ABORTED);
      return;
    }
    this.controller = controller;
  }

  onResponseStart(_controller: Controller, statusCode: number, headers: Headers): void {
    // 1xx informational answers come before the final one.
    if (statusCode < 200) return;
    this.status = statusCode;
    this.retryAfter = first(headers["retry-after"]);
    // No redirect interceptor is installed, so a 3xx is the attempt's answer: its Location is
    // kept to say where it led, never followed.
    if (statusCode >= 300 && statusCode < 400) this.location = first(headers["location"]);
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.settled) return;
    const room = this.limit - this.keptBytes;
    if (room > 0) {
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      if (this.kept === undefined) this.kept = part;
      else if (Array.isArray(this.kept)) this.kept.push(part);
      else this.kept = [this.kept, part];
      this.keptBytes += part.length;
    }
    this.read += chunk.length;
    if (this.read > DRAIN_LIMIT) {
      // Read this far for nothing: answer with what came, drop the connection rather than drain it.
      this.answer();
      controller.abort(new Error("response body over the drain limit; connection dropped"));
    }
  }

  onResponseEnd(): void {
    if (!this.settled) this.answer();
  }

  onResponseError(_controller: Controller | undefined, err: Error): void {
    if (!this.settled) this.finish(this.failed(err));
  }

  private answer(): void {
    const result: SendResult["result"] =
      this.location === undefined
        ? { kind: "response", status: this.status, retryAfter: this.retryAfter }
        : { kind: "response", status: this.status, retryAfter: this.retryAfter, location: this.location };
    this.finish({ result, responseBody: this.body(), errorMessage: null });
  }

  private body(): string {
    const kept = this.kept;
    if (kept === undefined) return "";
    const bytes = Array.isArray(kept) ? Buffer.concat(kept, this.keptBytes) : kept;
    // ASCII reads the same in every decoding; anything else goes through the streaming
    // decoder, whose final call (output dropped) resets it for the next body.
    if (isAscii(bytes)) return bytes.toString("latin1");
    const text = decoder.decode(bytes, { stream: true });
    decoder.decode();
    return text;
  }

  private finish(sent: SendResult): void {
    this.settled = true;
    clearTimeout(this.timer);
    this.kept = undefined;
    this.settle(sent);
  }
}

function timeUp(e: Exchange): void {
  e.cut("timeout", TIMED_OUT);
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
