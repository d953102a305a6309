/** Schemas of the routes that need no token: version, liveness, readiness. */
import { ERRORS } from "./common.js";

const base = { tags: ["meta"], security: [] } as const;

export const rootSchema = {
  ...base,
  summary: "Ferry's name and version",
  response: {
    200: {
      type: "object",
      required: ["name", "version", "docs"],
      properties: { name: { type: "string", const: "ferry" }, version: { type: "string" }, docs: { type: "string" } },
    },
  },
} as const;

export const healthzSchema = {
  ...base,
  summary: "Liveness: the process answers",
  response: { 200: { type: "object", required: ["status"], properties: { status: { type: "string", const: "ok" } } } },
} as const;

export const readyzSchema = {
  ...base,
  summary: "Readiness: the store and the queue answer",
  description: "503 not_ready names the backend that failed.",
  response: {
    200: { type: "object", required: ["status"], properties: { status: { type: "string", const: "ready" } } },
    ...ERRORS,
  },
} as const;
