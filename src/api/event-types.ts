/**
 * Event types: the JSON Schema an account's events of one category must match in `data`.
 * An account token acts on its own account; the admin names one with `?account_id=`.
 *   PUT    /v1/event-types/{category}  {"schema": {...}, "description"?} → 201 (version 1) or
 *                                      200 (replaced: version + 1); a schema that does not
 *                                      compile is 422 invalid_schema with Ajv's reason
 *   GET    /v1/event-types/{category}
 *   GET    /v1/event-types             ?limit=&after= (after: a category) → {"data","next_after"}
 *   DELETE /v1/event-types/{category}  → 204; the category takes any data again (or none, for a
 *                                      strict_event_types account)
 */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../core/errors.js";
import { compileEventSchema } from "../core/event-schemas.js";
import { MAX_CATEGORY_LENGTH, type EventType } from "../core/events.js";
import { eventAccount, type EventRouteDeps } from "./events.js";
import { iso, parsePage, queryString } from "./common.js";
import { checkObjectBody, stringField } from "./validate.js";
import { putEventTypeSchema, getEventTypeSchema, listEventTypesSchema, deleteEventTypeSchema } from "./schemas/event-types.js";

const FIELDS = ["schema", "description"] as const;
const EXAMPLE = '{"schema":{"type":"object","required":["host","path"],"properties":{"host":{"type":"string"},"path":{"type":"string"}}},"description":"A page of the party site was opened"}';
const CATEGORY = /^[A-Za-z0-9_.:-]+$/;
const MAX_DESCRIPTION = 1000;

export function eventTypeView(t: EventType): Record<string, unknown> {
  return {
    category: t.category,
    schema: JSON.parse(t.schema) as unknown,
    description: t.description,
    version: t.version,
    created_at: iso(t.createdAt),
    updated_at: iso(t.updatedAt),
  };
}

export function eventTypeRoutes(app: FastifyInstance, deps: EventRouteDeps): void {
  app.put<{ Params: { category: string } }>("/v1/event-types/:category", { schema: putEventTypeSchema }, async (request, reply) => {
    const category = checkCategory(request.params.category);
    const body = checkObjectBody(request.body, FIELDS, EXAMPLE);
    if (body["schema"] === undefined) throw new ApiError("invalid_schema", `schema is missing: send the JSON Schema that data must match, e.g. ${EXAMPLE}.`, { field: "schema" });
    const compiled = compileEventSchema(body["schema"]);
    if (!compiled.ok) throw new ApiError("invalid_schema", `schema: ${compiled.detail}`, { field: "schema" });
    const description = body["description"] === undefined ? null : stringField(body["description"], "description", MAX_DESCRIPTION, true);
    const accountId = (await eventAccount(request, deps, queryString(request.query, "account_id"))).id;
    const type = await deps.stores.events.putEventType(accountId, category, JSON.stringify(body["schema"]), description, Date.now());
    reply.code(type.version === 1 ? 201 : 200);
    return eventTypeView(type);
  });

  app.get<{ Params: { category: string } }>("/v1/event-types/:category", { schema: getEventTypeSchema }, async (request) => {
    const category = checkCategory(request.params.category);
    const accountId = (await eventAccount(request, deps, queryString(request.query, "account_id"))).id;
    const type = await deps.stores.events.getEventType(accountId, category);
    if (!type) throw notFound(category);
    return eventTypeView(type);
  });

  app.get("/v1/event-types", { schema: listEventTypesSchema }, async (request) => {
    const accountId = (await eventAccount(request, deps, queryString(request.query, "account_id"))).id;
    const page = parsePage(request.query);
    const types = await deps.stores.events.listEventTypes(accountId, { after: page.after, limit: page.limit + 1 });
    const more = types.length > page.limit;
    const shown = more ? types.slice(0, page.limit) : types;
    return { data: shown.map(eventTypeView), next_after: more ? shown[shown.length - 1]!.category : null };
  });

  app.delete<{ Params: { category: string } }>("/v1/event-types/:category", { schema: deleteEventTypeSchema }, async (request, reply) => {
    const category = checkCategory(request.params.category);
    const accountId = (await eventAccount(request, deps, queryString(request.query, "account_id"))).id;
    if (!(await deps.stores.events.deleteEventType(accountId, category))) throw notFound(category);
    deps.schemas.forget(accountId, category);
    return reply.code(204).send();
  });
}

function checkCategory(category: string): string {
  if (category.length > MAX_CATEGORY_LENGTH || !CATEGORY.test(category)) {
    throw new ApiError("invalid_field", `The category in the path must be 1 to ${MAX_CATEGORY_LENGTH} letters, digits and _ . : - (e.g. party or page.view); got ${JSON.stringify(category.slice(0, 100))}.`, { field: "category" });
  }
  return category;
}

function notFound(category: string): ApiError {
  return new ApiError("event_type_not_found", `No schema is registered for category ${JSON.stringify(category)} in this account; PUT /v1/event-types/${category} registers one.`);
}
