/**
 * URL templates: `http://partner/data?title={mascot}` with each `{key}` replaced by the data
 * object's value, percent-encoded. Pure; compiled once per endpoint, rendered per postback.
 *
 * Rules (docs/architecture.md repeats them for users):
 * - `{key}` is any run of characters other than `{` and `}`; a lone `{` or `}` stays as it is,
 *   and so does `{}`.
 * - A key is looked up as written first (`{a.b}` finds the key "a.b"); when absent and it has
 *   dots, as a path into nested objects (`{a.b}` finds data.a.b).
 * - Strings are percent-encoded: RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~) stay,
 *   every other byte of their UTF-8 is encoded.
 * - Numbers and booleans become their JSON text; objects and arrays their JSON text, encoded.
 * - null and missing keys become the default value, encoded the same way.
 */
import { domainToASCII } from "node:url";

type Part = string | { key: string };

export interface CompiledTemplate {
  readonly source: string;
  readonly parts: readonly Part[];
  /** The keys the template uses, in order of first use. */
  readonly keys: readonly string[];
  /** The literal text before the first placeholder. */
  readonly prefix: string;
}

const PLACEHOLDER = /\{([^{}]+)\}/g;

export function compileTemplate(source: string): CompiledTemplate {
  const parts: Part[] = [];
  const keys: string[] = [];
  let last = 0;
  for (const match of source.matchAll(PLACEHOLDER)) {
    const index = match.index;
    if (index > last) parts.push(source.slice(last, index));
    const key = match[1] as string;
    parts.push({ key });
    if (!keys.includes(key)) keys.push(key);
    last = index + match[0].length;
  }
  if (last < source.length) parts.push(source.slice(last));
  const first = parts[0];
  const prefix = typeof first === "string" ? first : "";
  return { source, parts, keys, prefix };
}

export function renderTemplate(
  template: CompiledTemplate,
  data: Record<string, unknown>,
  defaultValue: string,
): string {
  let out = "";
  for (const part of template.parts) {
    if (typeof part === "string") out += part;
    else out += encodeValue(lookup(data, part.key), defaultValue);
  }
  return out;
}

/** Percent-encodes all but RFC 3986 unreserved characters. */
export function encodeRfc3986(value: string): string {
  // encodeURIComponent leaves !'()* alone and throws on lone surrogates; fix both.
  return encodeURIComponent(value.toWellFormed()).replace(
    /[!'()*]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

function encodeValue(value: unknown, defaultValue: string): string {
  if (value === undefined || value === null) return encodeRfc3986(defaultValue);
  if (typeof value === "string") return encodeRfc3986(value);
  if (typeof value === "number" || typeof value === "boolean") return encodeRfc3986(String(value));
  return encodeRfc3986(JSON.stringify(value));
}

/**
 * A URL with the data object's top-level fields appended as query parameters, encoded as
 * template values are: what a GET destination without placeholders receives (Data Pusher's partners read the pushed fields from the query string).
 */
export function appendQuery(url: string, data: Record<string, unknown>, defaultValue: string): string {
  const pairs: string[] = [];
  for (const [key, value] of Object.entries(data)) pairs.push(`${encodeRfc3986(key)}=${encodeValue(value, defaultValue)}`);
  if (pairs.length === 0) return url;
  const hash = url.indexOf("#");
  const base = hash === -1 ? url : url.slice(0, hash);
  const joiner = !base.includes("?") ? "?" : base.endsWith("?") || base.endsWith("&") ? "" : "&";
  return base + joiner + pairs.join("&") + (hash === -1 ? "" : url.slice(hash));
}

/** A placeholder's value in the data object (see the rules above); undefined when absent. */
export function lookup(data: Record<string, unknown>, key: string): unknown {
  if (Object.hasOwn(data, key)) return data[key];
  if (!key.includes(".")) return undefined;
  let node: unknown = data;
  for (const step of key.split(".")) {
    if (node === null || typeof node !== "object" || !Object.hasOwn(node, step)) return undefined;
    node = (node as Record<string, unknown>)[step];
  }
  return node;
}

/**
 * Whether the template's scheme and host are fixed, i.e. the literal prefix already holds
 * `http(s)://host` followed by `/`, `?` or `#`, or the template has no placeholder at all.
 * Then checking one rendering checks them all.
 */
export function hasFixedOrigin(template: CompiledTemplate): boolean {
  if (template.keys.length === 0) return true;
  return /^https?:\/\/[^/?#{}]+[/?#]/i.test(template.prefix);
}

/**
 * An absolute http(s) URL whose host is the one its text names, or undefined with the reason
 * it is not. WHATWG URL parsing (which undici uses) forgives a lot: it reads "http:///x",
 * "http:/x" and "http:\\x" as host x, so a template "http://{host}/127.0.0.1:9999/hook"
 * rendered without `host` would go to 127.0.0.1:9999; it reads "http://2130706433/" as
 * 127.0.0.1. So the host between "//" and the next "/", "\\", "?" or "#" must be there, and
 * parsing may change it only by case, a default or empty port, IPv6 notation or IDNA.
 */
export function checkHttpUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "is not a valid absolute URL";
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return `has scheme "${parsed.protocol.slice(0, -1)}"; only http and https are delivered`;
  }
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/\\?#]*)/i.exec(url)?.[1];
  // After the last "@" (user info may hold more, as WHATWG reads it): host and port.
  const hostPort = authority?.slice(authority.lastIndexOf("@") + 1);
  if (!hostPort || !parsed.hostname) return `has no host between "//" and the next "/", "?" or "#"`;
  const raw = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(hostPort);
  const rawHost = raw?.[1] ?? hostPort;
  if (!rawHost) return `has no host between "//" and the next "/", "?" or "#"`;
  const defaultPort = parsed.protocol === "https:" ? 443 : 80;
  const rawPort = raw?.[2] ? Number(raw[2]) : defaultPort;
  const sameHost =
    rawHost.toLowerCase() === parsed.hostname ||
    // An IPv6 literal is written many ways; parsing only picks the shortest (RFC 5952).
    (rawHost.startsWith("[") && parsed.hostname.startsWith("[")) ||
    // A name in Unicode is sent as its IDNA A-label; anything percent-encoded is not a name.
    (/[^\x00-\x7f]/.test(rawHost) && !rawHost.includes("%") && domainToASCII(rawHost) === parsed.hostname);
  if (!sameHost || raw === null || rawPort !== (parsed.port === "" ? defaultPort : Number(parsed.port))) {
    return `names the host "${hostPort.slice(0, 100)}" but is parsed as host "${parsed.host}"`;
  }
  return undefined;
}
