/** The process logger: pino, JSON lines on stdout, written asynchronously so a line per attempt stays cheap. */
import pino, { type Logger } from "pino";

export function createLogger(level: string, options: { sync?: boolean } = {}): Logger {
  const destination = pino.destination({ dest: 1, sync: options.sync ?? false });
  return pino(
    {
      level,
      base: { pid: process.pid },
      // Tokens must never reach a log, whatever logs a request by mistake.
      redact: { paths: ["req.headers.authorization", "headers.authorization", "authorization", 'req.headers["cl-x-token"]', 'headers["cl-x-token"]', "token", "admin_token", "secret"], censor: "[redacted]" },
    },
    destination,
  );
}

/** Writes what is buffered; call before the process exits. */
export function flushLogger(logger: Logger): void {
  try {
    logger.flush();
  } catch {
    // a closed stdout must not turn a clean exit into a crash
  }
}
