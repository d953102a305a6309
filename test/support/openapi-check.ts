/**
 * Checks a real answer against the OpenAPI document's schema for its route and status: a client
 * generated from docs/openapi.json must find every field the answer has (none undeclared where
 * the schema is closed), every required one, and each of the declared type. The fuzz suites run
 * it on every success they get, so the document cannot drift from what the routes answer.
 */
import { readFileSync } from "node:fs";
import { repoPath } from "./paths.js";

type Schema = {
  $ref?: string;
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  oneOf?: Schema[];
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
};
type Operation = { responses?: Record<string, { content?: Record<string, { schema: Schema }> }> };
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

let cached: { doc: Doc; routes: { pattern: RegExp; params: number; path: string }[] } | undefined;

function load() {
  if (cached) return cached;
  const doc = JSON.parse(readFileSync(repoPath("docs", "openapi.json"), "utf8")) as Doc;
  const routes = Object.keys(doc.paths).map((path) => ({
    path,
    params: (path.match(/\{/g) ?? []).length,
    pattern: new RegExp("^" + path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{[^}]+\\?\}/g, "[^/]+") + "$"),
  }));
  // A literal segment wins over a parameter (/v1/events/query before /v1/events/{id}).
  routes.sort((a, b) => a.params - b.params);
  cached = { doc, routes };
  return cached;
}

/**
 * What is wrong with a JSON answer to `method path` with `status` by the document; undefined when
 * it matches, or when the route is not in the document (the caller decides whether it must be).
 */
export function answerMismatch(method: string, url: string, status: number, body: unknown): string | undefined {
  const { doc, routes } = load();
  // Dot segments ("/v1/destinations/../stats") are resolved before routing, as the URL parser does.
  const path = new URL(url.split("?")[0]!, "http://ferry").pathname;
  const route = routes.find((r) => r.pattern.test(path) && doc.paths[r.path]![method.toLowerCase()]);
  if (!route) return undefined;
  const op = doc.paths[route.path]![method.toLowerCase()]!;
  const response = op.responses?.[String(status)] ?? op.responses?.[`${String(status)[0]}XX`];
  if (!response) return `${method} ${route.path} answered ${status}, which the document does not declare`;
  const schema = response.content?.["application/json"]?.schema ?? response.content?.["application/problem+json"]?.schema;
  if (!schema) return undefined;
  const wrong = mismatch(doc, body, schema, "body");
  return wrong && `${method} ${route.path} ${status}: ${wrong}`;
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function mismatch(doc: Doc, value: unknown, given: Schema, at: string): string | undefined {
  const schema = given.$ref ? doc.components.schemas[given.$ref.split("/").pop()!]! : given;
  if (schema.oneOf) {
    return schema.oneOf.some((s) => mismatch(doc, value, s, at) === undefined) ? undefined : `${at} matches none of its oneOf schemas`;
  }
  if ("const" in schema && value !== schema.const) return `${at} is ${JSON.stringify(value)}, not ${JSON.stringify(schema.const)}`;
  if (schema.enum && !schema.enum.includes(value)) return `${at} is ${JSON.stringify(value)}, not one of ${JSON.stringify(schema.enum)}`;
  if (schema.type !== undefined) {
    const types = [schema.type].flat();
    const type = typeOf(value);
    if (!types.includes(type) && !(type === "integer" && types.includes("number"))) return `${at} is ${type}; the document says ${types.join(" or ")}`;
  }
  if (Array.isArray(value)) {
    if (!schema.items) return undefined;
    for (const [i, item] of value.entries()) {
      const wrong = mismatch(doc, item, schema.items, `${at}[${i}]`);
      if (wrong) return wrong;
    }
    return undefined;
  }
  if (value === null || typeof value !== "object") return undefined;
  const record = value as Record<string, unknown>;
  for (const name of schema.required ?? []) if (!(name in record)) return `${at}.${name} is required by the document but missing`;
  for (const [name, item] of Object.entries(record)) {
    const property = schema.properties?.[name];
    if (property) {
      const wrong = mismatch(doc, item, property, `${at}.${name}`);
      if (wrong) return wrong;
    } else if (typeof schema.additionalProperties === "object") {
      const wrong = mismatch(doc, item, schema.additionalProperties, `${at}.${name}`);
      if (wrong) return wrong;
    } else if (schema.additionalProperties !== true && schema.properties) {
      return `${at}.${name} is answered but not in the document`;
    }
  }
  return undefined;
}
