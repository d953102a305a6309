/**
 * The process logger: pino, JSON lines on stdout, written asynchronously so a line per attempt
 * stays cheap.
 *
 * Lines are gathered up to 4 KiB per write(), and whatever is gathered is written at least
 * every 200 ms: a write per line cost the worker about 7% of its CPU at ~6,000 attempts/s in
 * profiles (issue 16; the fs write call, once per line). A line may so reach stdout up to
 * 200 ms late; on a clean stop (and, on the main thread, at any exit) what is gathered is
 * written synchronously.
 */
import pino, { type Logger } from "pino";

/** Bytes gathered before a write. */
const MIN_WRITE_BYTES = 4096;
/** The longest a gathered line waits for its write. */
const FLUSH_EVERY_MS = 200;

type Destination = ReturnType<typeof pino.destination>;
const destinations = new WeakMap<Logger, Destination>();

export function createLogger(level: string, options: { sync?: boolean } = {}): Logger {
  const sync = options.sync ?? false;
  const destination = pino.destination({ dest: 1, sync, minLength: sync ? 0 : MIN_WRITE_BYTES });
  if (!sync) {
    setInterval(() => {
      // sonic-boom's own count of bytes not yet written: no empty write when nothing waits.
      if ((destination as unknown as { _len: number })._len > 0) {
        try {
          destination.flush();
        } catch {
          // a closed stdout: lines are dropped, never a crash
        }
      }
    }, FLUSH_EVERY_MS).unref();
  }
  const logger = pino(
    {
      level,
      base: { pid: process.pid },
      // Tokens must never reach a log, whatever logs a request by mistake.
      redact: { paths: ["req.headers.authorization", "headers.authorization", "authorization", 'req.headers["cl-x-token"]', 'headers["cl-x-token"]', "token", "admin_token", "secret"], censor: "[redacted]" },
    },
    destination,
  );
  destinations.set(logger, destination);
  return logger;
}

/** Writes what is gathered, synchronously; call before the process (or thread) ends. */
export function flushLogger(logger: Logger): void {
  try {
    const destination = destinations.get(logger);
    if (destination) destination.flushSync();
    else logger.flush();
  } catch {
    // a closed stdout (or a write under way) must not turn a clean exit into a crash
  }
}
