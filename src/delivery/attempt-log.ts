/**
 * The one log line per attempt (seed 000: "log delivery time, response code, response time and
 * response body"), written at info, the default level. At 10,000 attempts/s pino's general
 * serializer (the object spread, its key walk, the redaction wrapper) cost ~8.5 µs of CPU per
 * line here, ~9 CPU ms per 1,000 postbacks on top of a delivery path that costs ~60 (issue 16).
 * This line always has the same fields, so it is built as one template string and handed to
 * pino's own destination (same stream, same order as every other line): ~4.5 µs, half of it
 * the write itself. The line is what pino would have written: the same keys, in the same
 * order, the same JSON.
 */
import pino, { type Logger } from "pino";
import type { AttemptRecord } from "../store/port.js";

/** What a line says beyond the attempt record. */
export interface AttemptLine {
  method: string;
  destinationId: string | undefined;
}

interface Writable {
  write(line: string): unknown;
}

export class AttemptLog {
  private readonly logger: Logger;
  private readonly stream: Writable | undefined;
  /** `,"pid":123` and any child bindings: what pino puts after level and time. */
  private readonly bindings: string;

  constructor(logger: Logger) {
    this.logger = logger;
    const stream = (logger as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as Writable | undefined;
    // The fast path only for a plain JSON logger: one with a custom time, message key or
    // formatters gets pino's own serializer, so its lines keep their shape.
    const plain =
      typeof stream?.write === "function" &&
      (logger as unknown as Record<symbol, unknown>)[pino.symbols.messageKeySym] === "msg" &&
      logger.levels.values["info"] === 30 &&
      (logger as unknown as Record<symbol, unknown>)[pino.symbols.timeSym] === pino.stdTimeFunctions.epochTime;
    const bindings = (logger as unknown as Record<symbol, unknown>)[pino.symbols.chindingsSym];
    this.stream = plain && typeof bindings === "string" ? stream : undefined;
    this.bindings = typeof bindings === "string" ? bindings : "";
  }

  write(record: AttemptRecord, line: AttemptLine): void {
    if (!this.logger.isLevelEnabled("info")) return;
    if (!this.stream) {
      this.logger.info(fields(record, line), "attempt");
      return;
    }
    const destination = line.destinationId === undefined ? "" : `"destination_id":${JSON.stringify(line.destinationId)},`;
    const next = record.nextAttemptAt === null ? "" : `,"next_attempt_at":"${new Date(record.nextAttemptAt).toISOString()}"`;
    this.stream.write(
      `{"level":30,"time":${Date.now()}${this.bindings},"postback_id":${JSON.stringify(record.postbackId)},"attempt":${record.attempt},` +
        `"method":${JSON.stringify(line.method)},"url":${JSON.stringify(record.url)},${destination}"status_code":${record.statusCode},` +
        `"duration_ms":${record.durationMs},"response_body":${JSON.stringify(record.responseBody)},"error":${JSON.stringify(record.error)},` +
        `"state":${JSON.stringify(record.state)}${next},"msg":"attempt"}\n`,
    );
  }
}

/** The same line as an object, for pino's serializer. */
export function fields(record: AttemptRecord, line: AttemptLine): Record<string, unknown> {
  return {
    postback_id: record.postbackId,
    attempt: record.attempt,
    method: line.method,
    url: record.url,
    destination_id: line.destinationId,
    status_code: record.statusCode,
    duration_ms: record.durationMs,
    response_body: record.responseBody,
    error: record.error,
    state: record.state,
    next_attempt_at: record.nextAttemptAt === null ? undefined : new Date(record.nextAttemptAt).toISOString(),
  };
}
