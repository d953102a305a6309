/**
 * Where a URL is sent: its origin (the pool) and path, after `checkHttpUrl`'s guard. The URL
 * is parsed once per attempt (undici's request() parsed it again after the check), and the
 * check is done once per scheme and authority.
 */
import { BoundedMap } from "../core/bounded-map.js";
import { checkHttpUrl } from "../core/template.js";

export interface Target {
  origin: string;
  path: string;
}

/** Authorities whose check is kept. */
const AUTHORITIES = 1000;
/**
 * An http(s) scheme and a non-empty authority, followed by what ends it in WHATWG parsing
 * (/ \ ? #). Without tab, CR or LF, which WHATWG parsing removes wherever they are.
 */
const AUTHORITY = /^https?:\/\/[^/\\?#\t\n\r]+(?=[/\\?#])/i;

export class Targets {
  /** checkHttpUrl's answer ("" for none) by scheme and authority. */
  private readonly checked = new BoundedMap<string, string>(AUTHORITIES);

  /** The URL's origin and path, or why it is not sent (checkHttpUrl's words). */
  target(url: string): Target | string {
    const problem = this.check(url);
    if (problem) return problem;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return "is not a valid absolute URL";
    }
    return { origin: parsed.origin, path: parsed.pathname + parsed.search };
  }

  /**
   * checkHttpUrl(url), asked once per authority. Its answer depends on the scheme and the
   * authority only: WHATWG parsing of an http(s) URL fails only in its host or port, and every
   * test it makes reads the authority. The authority must be followed by something (/ \ ? #),
   * so that neither the trimming of the URL's end nor the slashes WHATWG skips after "//" can
   * reach it; such a URL is checked with "/" in place of the rest, which the tests compare with
   * checkHttpUrl on the whole URL. Anything else is checked whole.
   */
  check(url: string): string | undefined {
    const authority = AUTHORITY.exec(url)?.[0];
    if (authority === undefined) return checkHttpUrl(url);
    let problem = this.checked.get(authority, 0);
    if (problem === undefined) {
      problem = checkHttpUrl(authority + "/") ?? "";
      this.checked.set(authority, problem, 0);
    }
    return problem || undefined;
  }
}
