/**
 * The OpenAPI 3.1 document, made by @fastify/swagger from the routes' own schemas (each route
 * declares its params, query, body and answers in src/api/schemas/), served at GET /openapi.json
 * and browsable at /docs (@fastify/swagger-ui, its files served from the installed package,
 * never a CDN). `npm run openapi` writes the same document to docs/openapi.json.
 *
 * The schemas describe; they do not (yet) decide. Ferry's handlers keep their own checks, whose
 * codes, fields and messages are documented (docs/errors.md) and tested: a JSON Schema
 * validator would answer its own words first. So request schemas are compiled to a validator
 * that accepts everything, and answers are serialized as before with JSON.stringify (a schema
 * serializer drops every property its schema does not name, and an open data object must keep
 * them all).
 */
import type { FastifyInstance } from "fastify";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { SHARED_SCHEMAS } from "./schemas/index.js";

/** Areas of the API, one tag each, in the order /docs lists them. */
export const TAGS = [
  { name: "ingest", description: "Postbacks from a URL template and data objects (POST /ingest)." },
  { name: "push", description: "Data pushed to an account's destinations, or broadcast to every account's." },
  { name: "events", description: "Events stored and queried by session, category, name and time." },
  { name: "event-types", description: "The JSON Schema an account's events of one category must match." },
  { name: "accounts", description: "Accounts (tenants), managed by the admin." },
  { name: "tokens", description: "An account's API tokens." },
  { name: "destinations", description: "Where an account's pushed data goes." },
  { name: "postbacks", description: "The delivery log: postbacks, their attempts, resends and roll-ups." },
  { name: "admin", description: "Watching a running process: metrics and profiles." },
  { name: "meta", description: "Version, health, readiness and this document; no token." },
  { name: "compat", description: "The seed systems' own routes (FERRY_COMPAT), in their own shapes; docs/seeds.md." },
] as const;

/**
 * Registers @fastify/swagger and the shared schemas. Call before any route: the document is
 * built from the routes registered after it.
 */
export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Ferry",
        version,
        description:
          "Self-hosted real-time delivery of event data to third-party HTTP endpoints. Every error is application/problem+json " +
          "with a stable `code` (docs/errors.md). Send a token as `Authorization: Bearer <token>`: the admin token, or an account's.",
        license: { name: "MIT", identifier: "MIT" },
      },
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", description: "The admin token (FERRY_ADMIN_TOKEN) or an account token (POST /v1/accounts/{id}/tokens)." },
        },
      },
      security: [{ bearer: [] }],
      tags: [...TAGS],
    },
    // Shared schemas keep their $id as their component name (#/components/schemas/Problem).
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json["$id"] === "string" ? json["$id"] : `def-${i}`) },
  });
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  // See the header: the handlers check requests, and JSON.stringify writes answers.
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
}

/** GET /openapi.json and the browsable docs at /docs: no token, they hold no data. */
export async function openApiRoutes(app: FastifyInstance): Promise<void> {
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  await app.register(async (scope) => {
    await scope.register(swaggerUi, {
      routePrefix: "/docs",
      // The page loads only its own files and the document; no badge from validator.swagger.io.
      uiConfig: { validatorUrl: null },
      staticCSP:
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    });
  });
}
