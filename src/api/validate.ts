/**
 * Checks shared by the API's routes: URL templates and methods (ingest's endpoint and a
 * destination take the same ones), numbers in range, strings, and bodies with known fields.
 * Each throws an ApiError that names the field at fault, so a refusal says what to fix.
 */
import { ApiError } from "../core/errors.js";
import { compileTemplate, type CompiledTemplate } from "../core/template.js";
import { HTTP_METHODS, isHttpMethod, type HttpMethod } from "../core/types.js";

/**
 * U+0000. Postgres text columns cannot hold it (the statement fails, which answered 500 on the
 * Redis + Postgres backend while SQLite stored it), so a string stored as it is (a name, a URL,
 * a default value) is refused with it; JSON stored as text escapes it and needs no check.
 */
export const NUL = "\u0000";

/** Longest URL template taken; longer is almost surely a mistake, and partners reject them. */
export const MAX_URL_LENGTH = 8 * 1024;

/** A method in any case, or `fallback` when it is absent. */
export function parseMethod(value: unknown, field: string, fallback: HttpMethod): HttpMethod {
  if (value === undefined) return fallback;
  const method = typeof value === "string" ? value.toUpperCase() : value;
  if (!isHttpMethod(method)) {
    throw new ApiError("invalid_method", `${field} must be one of ${HTTP_METHODS.join(", ")}; got ${JSON.stringify(value)}.`, { field });
  }
  return method;
}

/**
 * Checks a URL template as far as it can be checked without data: present, not too long,
 * http(s), and able to render an absolute URL. Returns it compiled (its source trimmed).
 * A template whose scheme or host comes from a `{key}` is checked further per data object by
 * the caller (ingest renders it with each one).
 */
export function checkUrlTemplate(value: unknown, field: string): CompiledTemplate {
  if (typeof value !== "string" || value.trim() === "") {
    throw new ApiError("missing_url", `${field} must be a URL template string, e.g. "http://partner/data?title={mascot}".`, { field });
  }
  if (value.length > MAX_URL_LENGTH) {
    throw new ApiError("invalid_url", `${field} is ${value.length} characters; the most is ${MAX_URL_LENGTH}.`, { field });
  }
  if (value.includes(NUL)) {
    throw new ApiError("invalid_url", `${field} holds a NUL character (\\u0000); no URL does.`, { field });
  }
  const template = compileTemplate(value.trim());
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(template.prefix)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== "http" && scheme !== "https") {
    throw new ApiError("invalid_url", `${field} has scheme "${scheme}"; only http and https URLs are delivered.`, { field });
  }
  // No rendering can be an absolute URL when the literal text cannot begin a scheme
  // ("/path/{x}", "partner.example/{x}") or holds no ":" (values are encoded, so "{url}" never
  // gives one): the template is at fault, not a data object.
  if (scheme === undefined) {
    const badStart = template.prefix !== "" && !/^[a-z][a-z0-9+.-]*$/i.test(template.prefix);
    const literalColon = template.parts.some((part) => typeof part === "string" && part.includes(":"));
    if (badStart || !literalColon) {
      throw new ApiError("invalid_url", `${field} must start with http:// or https:// (a {key} cannot supply it: values are percent-encoded); it starts with ${JSON.stringify(template.source.slice(0, 100))}.`, { field });
    }
  }
  return template;
}

/** Refuses a body that is not a JSON object, or that has a field not in `known`. */
export function checkObjectBody(body: unknown, known: readonly string[], example: string): Record<string, unknown> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new ApiError("invalid_body", `Send a JSON object, e.g. ${example}.`);
  }
  const record = body as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!known.includes(key)) {
      throw new ApiError("unknown_field", `The body has the field ${JSON.stringify(key.slice(0, 100))}, which Ferry does not take here; the fields are ${known.join(", ")}.`, { field: key.slice(0, 100) });
    }
  }
  return record;
}

/** A whole number in [min, max]; null passes when `nullable` (it clears an override). */
export function intField(value: unknown, field: string, min: number, max: number, nullable: true): number | null;
export function intField(value: unknown, field: string, min: number, max: number, nullable?: false): number;
export function intField(value: unknown, field: string, min: number, max: number, nullable = false): number | null {
  if (value === null && nullable) return null;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new ApiError("invalid_number", `${field} must be a whole number from ${min} to ${max}${nullable ? " (or null for the default)" : ""}; got ${shown(value)}.`, { field });
  }
  return value;
}

/** A number above 0 and at most `max`; null passes (it clears an override). */
export function positiveNumberField(value: unknown, field: string, max: number): number | null {
  if (value === null) return null;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > max) {
    throw new ApiError("invalid_number", `${field} must be a number above 0 and at most ${max} (or null for no limit); got ${shown(value)}.`, { field });
  }
  return value;
}

/** A string of at most `maxLength` characters; null passes when `nullable`. */
export function stringField(value: unknown, field: string, maxLength: number, nullable: boolean): string | null {
  if (value === null && nullable) return null;
  if (typeof value !== "string") {
    throw new ApiError("invalid_field", `${field} must be a string${nullable ? " or null" : ""}; got ${shown(value)}.`, { field });
  }
  if (value.length > maxLength) {
    throw new ApiError("invalid_field", `${field} is ${value.length} characters long; the most is ${maxLength}.`, { field });
  }
  if (value.includes(NUL)) {
    throw new ApiError("invalid_field", `${field} holds a NUL character (\\u0000); leave it out.`, { field });
  }
  return value;
}

export function boolField(value: unknown, field: string): boolean {
  if (typeof value !== "boolean") {
    throw new ApiError("invalid_field", `${field} must be true or false; got ${shown(value)}.`, { field });
  }
  return value;
}

/** A value as a message quotes it: JSON, cut short. */
export function shown(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 100 ? text.slice(0, 100) + "…" : text;
}
