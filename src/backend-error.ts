/** Start-up failures of the queue and store servers, in words an operator can act on. */

/**
 * A backend that could not be opened at start-up: the message is one line that names the
 * setting to look at (and never holds its password).
 */
export class BackendError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BackendError";
  }
}

/** A URL with its password replaced by ***, for logs and messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable URL)";
  }
}

