/**
 * JSON Schemas for a category's `data`: compiled with Ajv (never hand-rolled), cached per
 * (account, category, version), and their errors given as EventErrors. Pure: Ajv compiles in
 * memory and is never given a way to fetch anything.
 *
 * Decisions (docs/errors.md, "Events", repeats them for users):
 * - Draft 2020-12 unless the schema's `$schema` names draft-07, which much existing tooling
 *   still writes; any other `$schema` is refused.
 * - Ajv's strict schema mode: an unknown keyword (a typo such as `minLenght`, which the standard
 *   would silently ignore) or an unknown `format` refuses the schema. Types, tuples and
 *   `required` are not held to strict mode's extra style rules.
 * - `$ref` resolves only within the schema itself (`#/$defs/x`, or an `$id` it declares): Ajv
 *   is used synchronously without `loadSchema`, so a remote `$ref` is refused, never fetched.
 * - Size: at most MAX_SCHEMA_BYTES of JSON and MAX_SCHEMA_DEPTH levels of nesting.
 * - Validation reports every error (allErrors) but lists at most MAX_SCHEMA_ERRORS.
 * - Each account's schemas are isolated: a compiled schema is removed from the shared Ajv
 *   instance at once, so its `$id`s are never seen by another schema.
 *
 * Not bounded here: a `pattern` written to backtrack catastrophically (`(a+)+$`) runs in
 * JavaScript's regex engine against each event's strings. Only an account's own token can
 * register its schemas, and the body size bounds the input; a linear-time engine (RE2, through
 * Ajv's `code.regExp`) would close it if accounts become less trusted.
 */
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { BoundedMap } from "./bounded-map.js";
import type { EventError } from "./events.js";

/** Longest schema taken, as JSON text: far more than a category's data needs. */
export const MAX_SCHEMA_BYTES = 64 * 1024;
/** Deepest nesting of objects and arrays in a schema. */
export const MAX_SCHEMA_DEPTH = 32;
/** Schema errors listed per event; one more entry says how many were left out. */
export const MAX_SCHEMA_ERRORS = 20;
/** Compiled schemas kept in memory by default. */
export const DEFAULT_SCHEMA_CACHE_SIZE = 1000;

/** A compiled schema: call it with `data`; its `errors` then say why it failed. */
export type EventSchemaValidator = ValidateFunction;

export type CompileEventSchemaResult = { ok: true; validate: EventSchemaValidator } | { ok: false; detail: string };

const DRAFT_2020 = "https://json-schema.org/draft/2020-12/schema";
const DRAFT_07 = "http://json-schema.org/draft-07/schema";

const AJV_OPTIONS: Options = {
  allErrors: true,
  strictSchema: true,
  strictNumbers: true,
  strictTypes: false,
  strictTuples: false,
  strictRequired: false,
  // `required: ["toString"]` must not be met by Object.prototype.
  ownProperties: true,
  // Each compiled schema is its own; its $id must not become visible to the next one.
  addUsedSchema: false,
  // Nothing is ever written to the console by a library in the request path.
  logger: false,
};

// ajv-formats is CommonJS: under NodeNext its default import is the module, whose `default` is
// the plugin.
const addFormats = addFormatsModule.default;

/**
 * One Ajv instance per draft, remade after RECYCLE_AFTER compiles: removeSchema drops each
 * compiled schema, but Ajv keeps a few internal entries (nested $ids) per schema, which must not
 * grow for the life of the process.
 */
const RECYCLE_AFTER = 500;
const instances = new Map<string, { ajv: Ajv | Ajv2020; compiles: number }>();

function ajvFor(draft: string): Ajv | Ajv2020 {
  let entry = instances.get(draft);
  if (!entry || entry.compiles >= RECYCLE_AFTER) {
    const ajv = draft === DRAFT_07 ? new Ajv(AJV_OPTIONS) : new Ajv2020(AJV_OPTIONS);
    addFormats(ajv);
    entry = { ajv, compiles: 0 };
    instances.set(draft, entry);
  }
  entry.compiles++;
  return entry.ajv;
}

/**
 * Compiles a JSON Schema for a category's `data`, or says why it cannot be used. `schema` is
 * the parsed JSON (an object, or `true`/`false`).
 */
export function compileEventSchema(schema: unknown): CompileEventSchemaResult {
  const shape = checkShape(schema);
  if (shape !== undefined) return { ok: false, detail: shape };
  const draft = draftOf(schema);
  if (typeof draft !== "string") return { ok: false, detail: draft.detail };
  const ajv = ajvFor(draft);
  try {
    return { ok: true, validate: ajv.compile(schema as object) };
  } catch (err) {
    return { ok: false, detail: compileFailure(err) };
  } finally {
    // true and false are cached as themselves: two entries, nothing to remove.
    if (typeof schema === "object") ajv.removeSchema(schema as object);
  }
}

/** Checks `data` against a compiled schema: [] when it matches. */
export function validateEventData(validate: EventSchemaValidator, data: unknown): EventError[] {
  if (validate(data)) return [];
  const all = validate.errors ?? [];
  const errors = all.slice(0, MAX_SCHEMA_ERRORS).map((error) => schemaError(error, data));
  if (all.length > MAX_SCHEMA_ERRORS) {
    errors.push({
      code: "schema_violation",
      field: "data",
      detail: `and ${all.length - MAX_SCHEMA_ERRORS} more schema errors; only the first ${MAX_SCHEMA_ERRORS} are listed.`,
    });
  }
  return errors;
}

/** A category's registered schema, as the store holds it (EventType). */
export interface EventSchemaSource {
  accountId: string;
  category: string;
  version: number;
  /** The JSON Schema as JSON text. */
  schema: string;
}

/**
 * Compiled schemas, each compiled once per (account, category, version): a new version is a
 * new key, so a replaced schema is never served stale. Bounded (the least recently set goes
 * first). A schema that fails to compile is remembered too, so it is not retried per event.
 */
export class EventSchemaCache {
  private readonly entries: BoundedMap<string, CompileEventSchemaResult>;
  private readonly compile: (schema: unknown) => CompileEventSchemaResult;

  constructor(options: { max?: number; compile?: (schema: unknown) => CompileEventSchemaResult } = {}) {
    this.entries = new BoundedMap(options.max ?? DEFAULT_SCHEMA_CACHE_SIZE);
    this.compile = options.compile ?? compileEventSchema;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The compiled schema of `source`, compiling it on first use. */
  get(source: EventSchemaSource): CompileEventSchemaResult {
    const key = cacheKey(source.accountId, source.category, source.version);
    const cached = this.entries.get(key);
    if (cached) return cached;
    let parsed: unknown;
    try {
      parsed = JSON.parse(source.schema);
    } catch {
      parsed = undefined;
    }
    const result = parsed === undefined ? { ok: false as const, detail: "the stored schema is not JSON." } : this.compile(parsed);
    this.entries.set(key, result);
    return result;
  }

  /** Drops every version of a category's schema (after it is deleted). */
  forget(accountId: string, category: string): void {
    const prefix = cacheKey(accountId, category, 0).replace(/0$/, "");
    this.entries.deleteWhere((_, key) => key.startsWith(prefix));
  }
}

function cacheKey(accountId: string, category: string, version: number): string {
  // NUL appears in neither an account id nor a category.
  return `${accountId}\u0000${category}\u0000${version}`;
}

/** Why `schema` is not a schema Ferry takes, before Ajv sees it; undefined when it may be. */
function checkShape(schema: unknown): string | undefined {
  if (typeof schema === "boolean") return undefined;
  if (schema === null || typeof schema !== "object" || Array.isArray(schema)) {
    return `schema must be a JSON Schema object such as {"type":"object","required":["host"],"properties":{"host":{"type":"string"}}}; got ${describeType(schema)}.`;
  }
  const size = Buffer.byteLength(JSON.stringify(schema));
  if (size > MAX_SCHEMA_BYTES) return `schema is ${size} bytes of JSON; the most is ${MAX_SCHEMA_BYTES}.`;
  const depth = depthOf(schema);
  if (depth > MAX_SCHEMA_DEPTH) return `schema nests ${depth} levels deep; the most is ${MAX_SCHEMA_DEPTH} (use $defs and $ref for shared parts).`;
  const remote = remoteRef(schema, declaredIds(schema));
  if (remote !== undefined) {
    return `schema refers to ${JSON.stringify(remote.slice(0, 200))}, outside itself; Ferry never fetches schemas: put the definition under $defs and refer to it as "#/$defs/name".`;
  }
  return undefined;
}

/** The Ajv draft URI a schema asks for, or why its `$schema` is refused. */
function draftOf(schema: unknown): string | { detail: string } {
  if (typeof schema !== "object" || schema === null) return DRAFT_2020;
  const declared = (schema as Record<string, unknown>)["$schema"];
  if (declared === undefined) return DRAFT_2020;
  const normalised = typeof declared === "string" ? declared.replace(/#$/, "") : declared;
  if (normalised === DRAFT_2020 || normalised === DRAFT_07) return normalised;
  return {
    detail: `schema's $schema is ${JSON.stringify(declared)}; Ferry takes "${DRAFT_2020}" (the default, when $schema is left out) or "${DRAFT_07}#".`,
  };
}

/** The nesting depth of a JSON value, counting objects and arrays. */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  let deepest = 0;
  for (const child of Object.values(value)) {
    deepest = Math.max(deepest, depthOf(child));
    // Stop early: a hostile schema may be wide as well as deep.
    if (deepest > MAX_SCHEMA_DEPTH) break;
  }
  return deepest + 1;
}

/** Every `$id` a schema declares, so a `$ref` to one of them stays inside it. */
function declaredIds(value: unknown, ids: Set<string> = new Set()): Set<string> {
  if (value === null || typeof value !== "object") return ids;
  const id = (value as Record<string, unknown>)["$id"];
  if (typeof id === "string") ids.add(id.replace(/#$/, ""));
  for (const child of Object.values(value)) declaredIds(child, ids);
  return ids;
}

/**
 * A `$ref` (or `$dynamicRef`) that names an absolute URI the schema does not declare itself. A
 * relative one that resolves nowhere is left to Ajv, which refuses it as unresolvable.
 */
function remoteRef(value: unknown, ids: Set<string>): string | undefined {
  if (value === null || typeof value !== "object") return undefined;
  for (const [key, child] of Object.entries(value)) {
    if ((key === "$ref" || key === "$dynamicRef") && typeof child === "string" && /^[a-z][a-z0-9+.-]*:/i.test(child)) {
      const base = child.split("#")[0]!;
      if (!ids.has(base) && base !== DRAFT_2020 && base !== DRAFT_07) return child;
    }
    const found = remoteRef(child, ids);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Ajv's reason for refusing a schema, said for the one who wrote it. */
function compileFailure(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof Error && "missingRef" in err) {
    return `schema has a $ref that does not resolve within it (${message}); refer to a definition under $defs, such as "#/$defs/name".`;
  }
  if (message.startsWith("strict mode: unknown keyword")) {
    return `schema is refused: ${message}. Ferry refuses keywords JSON Schema does not define, since a misspelt one would be silently ignored; for notes use "description" or "$comment".`;
  }
  if (message.startsWith("unknown format")) {
    return `schema is refused: ${message}. The formats are those of ajv-formats (date-time, date, time, email, hostname, ipv4, ipv6, uri, uuid, ...).`;
  }
  if (message.startsWith("schema is invalid")) {
    return `schema is not a valid JSON Schema: ${message.replace(/^schema is invalid: /, "").replace(/\bdata(?=[/ ]|$)/g, "schema")}.`;
  }
  return `schema does not compile: ${message}.`;
}

/** One Ajv error as an EventError naming the path into the event (`data.a.b[2]`). */
function schemaError(error: ErrorObject, data: unknown): EventError {
  const segments = error.instancePath === "" ? [] : error.instancePath.slice(1).split("/").map(unescapePointer);
  // Keywords about a property name the property itself: `required` names the missing one.
  const params = error.params as Record<string, unknown>;
  const named = params["missingProperty"] ?? params["additionalProperty"] ?? params["unevaluatedProperty"] ?? params["propertyName"];
  let field = fieldPath(segments, data);
  if (typeof named === "string") field += propertySegment(named);
  return { code: "schema_violation", field, detail: `${error.keyword}: ${error.message ?? "is not valid"}${allowed(error)}` };
}

/** The values an `enum` or `const` allows, appended to its message. */
function allowed(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  if (error.keyword === "enum" && Array.isArray(params["allowedValues"])) {
    const text = params["allowedValues"].map((v) => JSON.stringify(v)).join(", ");
    return `: ${text.length > 200 ? text.slice(0, 200) + "…" : text}`;
  }
  if (error.keyword === "const") return `: ${JSON.stringify(params["allowedValue"])?.slice(0, 200)}`;
  return "";
}

/** `data` then each segment: `[2]` into arrays, `.key` into objects (`["a.b"]` for odd keys). */
function fieldPath(segments: string[], data: unknown): string {
  let path = "data";
  let current: unknown = data;
  for (const segment of segments) {
    if (Array.isArray(current)) {
      path += `[${segment}]`;
      current = current[Number(segment)];
    } else {
      path += propertySegment(segment);
      current = current !== null && typeof current === "object" ? (current as Record<string, unknown>)[segment] : undefined;
    }
  }
  return path;
}

function propertySegment(key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/** JSON Pointer escapes: ~1 is "/", ~0 is "~". */
function unescapePointer(segment: string): string {
  return segment.replace(/~1/g, "/").replace(/~0/g, "~");
}

function describeType(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  return Array.isArray(value) ? "an array" : `a ${typeof value}`;
}
