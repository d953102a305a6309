/** fun-with-webhooks (seed 003), as its own clients know it. Not built yet: registers nothing. */
import type { FastifyInstance } from "fastify";
import type { CompatDeps } from "./index.js";

export async function webhooksRoutes(_app: FastifyInstance, _deps: CompatDeps): Promise<void> {}
