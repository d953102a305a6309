/**
 * What every doctor check reports, and the timeout each one runs under. A check never throws
 * to the runner: what it found, failure included, is a Finding.
 */

/** skip: not looked at, because something it needs (the config, a connection) failed first. */
export type Status = "ok" | "warn" | "fail" | "skip";

export interface Finding {
  /** Stable, dotted: `redis.persistence`, `postgres.schema`, … (the JSON names them so). */
  name: string;
  status: Status;
  /** One line: what was found. Never a token or a password. */
  message: string;
  /** One line: what to change, when there is something to change. */
  fix?: string;
}

/** Each network step (connect, a command, a query) gets this long: a hung server must not hang doctor. */
export const CHECK_TIMEOUT_MS = 3_000;

export class CheckTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`no answer to ${what} within ${ms} ms`);
    this.name = "CheckTimeout";
  }
}

/** `work`, or a CheckTimeout after `ms`; the work itself is abandoned, not cancelled (doctor exits). */
export async function within<T>(what: string, work: Promise<T>, ms = CHECK_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout(what, ms)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A group of checks adds its findings through this. */
export type Report = (finding: Finding) => void;

export const ok = (name: string, message: string): Finding => ({ name, status: "ok", message });
export const warn = (name: string, message: string, fix: string): Finding => ({ name, status: "warn", message, fix });
export const fail = (name: string, message: string, fix: string): Finding => ({ name, status: "fail", message, fix });
export const skip = (name: string, message: string): Finding => ({ name, status: "skip", message });

/** INFO's `field:value` lines as a map (section headers and blank lines dropped). */
export function infoFields(info: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of info.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i > 0 && !line.startsWith("#")) fields.set(line.slice(0, i), line.slice(i + 1));
  }
  return fields;
}

/**
 * How far a server's clock is from this host's, from one round trip: the server read its clock
 * somewhere between `sentAt` and `receivedAt`, so the midpoint is the best guess, within ±rtt/2.
 */
export function clockSkew(serverMs: number, sentAt: number, receivedAt: number): { skewMs: number; rttMs: number } {
  return { skewMs: serverMs - (sentAt + receivedAt) / 2, rttMs: receivedAt - sentAt };
}
