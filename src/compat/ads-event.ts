/**
 * The ADS webhook service's event, as its trigger built it (seed 004; reference: its
 * `Triggering.post` view): the envelope every subscriber's callback is POSTed, and the md5 by
 * which a repeated trigger is known.
 *
 * The md5 is the original's own: `md5(json.dumps(request.json, sort_keys=True))` in Python,
 * which writes `", "` and `": "` between items, escapes every character outside printable
 * ASCII as `\uXXXX` (lowercase hex), sorts keys by code point at every level, and writes
 * floats as Python's repr does. `pythonJson` writes the same text, so Ferry and the original
 * agree on which triggers are repeats. What JSON read by JavaScript has lost cannot be written
 * back: `5.0` reads as `5` (Python wrote `5.0`), and an integer beyond 2**53 loses its last
 * digits; a payload holding such a number hashes otherwise than in the original.
 */
import { createHash } from "node:crypto";

/** What the original put around every payload; these three never varied. */
export const ADS_DESCRIPTION = "ADS citation events";
export const ADS_CREATOR = "ADS";
export const ADS_SOURCE = "ADS.Discovery";

/**
 * The body each callback receives, its keys in the original's order. `id` names the event:
 * the original's was the integer row id of its Events table; Ferry's is the broadcast's id
 * (`bc_...`), the same for every subscriber. `time` is the trigger's time in whole seconds since
 * the epoch, as a string, as the original's `strftime('%s')` gave it.
 */
export function adsEnvelope(id: string, event: string, payload: unknown, now: number): Record<string, unknown> {
  return {
    id,
    event,
    creator: ADS_CREATOR,
    source: ADS_SOURCE,
    description: ADS_DESCRIPTION,
    time: String(Math.floor(now / 1000)),
    payload,
  };
}

/** The md5 (hex) of a trigger request's body, as the original computed it. */
export function triggerMd5(body: unknown): string {
  return createHash("md5").update(pythonJson(body), "ascii").digest("hex");
}

/** `json.dumps(value, sort_keys=True)` of Python (2.7 or 3), for values JSON.parse makes. */
export function pythonJson(value: unknown): string {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "number") return pythonNumber(value);
  if (typeof value === "string") return pythonString(value);
  if (Array.isArray(value)) return "[" + value.map(pythonJson).join(", ") + "]";
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => byCodePoint(a, b));
    return "{" + entries.map(([k, v]) => pythonString(k) + ": " + pythonJson(v)).join(", ") + "}";
  }
  throw new TypeError(`no JSON value: ${typeof value}`);
}

/** Python sorts str by code point; JavaScript's default sort compares UTF-16 units. */
function byCodePoint(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

const ESCAPES: Record<string, string> = { '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f" };

/** ensure_ascii: anything but printable ASCII escaped; UTF-16 units are what \u escapes name. */
function pythonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    const code = s.charCodeAt(i);
    if (ESCAPES[ch] !== undefined) out += ESCAPES[ch];
    else if (code >= 0x20 && code <= 0x7e) out += ch;
    else out += "\\u" + code.toString(16).padStart(4, "0");
  }
  return out + '"';
}

/**
 * A number as Python wrote it. A whole one below 2**53 was an int to Python (JSON's `5`), written
 * in full. Any other was a float (an int literal that large has lost its digits in JavaScript
 * already, so `1e300` is the likelier reading), written as its repr: the shortest digits that
 * read back the same (JavaScript finds the same ones), fixed-point from 1e-4 up to 1e16 (`.0`
 * when whole), otherwise `d.ddde±XX` with at least two exponent digits.
 */
function pythonNumber(n: number): string {
  if (!Number.isFinite(n)) return n > 0 ? "Infinity" : n < 0 ? "-Infinity" : "NaN";
  if (Number.isSafeInteger(n)) return String(n);
  const [mantissa, expText] = n.toExponential().split("e") as [string, string];
  const exp = Number(expText);
  if (exp >= -4 && exp < 16) return Number.isInteger(n) ? `${String(n)}.0` : String(n);
  return `${mantissa}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
}
