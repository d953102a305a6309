/**
 * The seed systems' own APIs (FERRY_COMPAT), for clients moved to Ferry unchanged: Data
 * Pusher (seed 002), fun-with-webhooks (seed 003) and the ADS webhook service (seed 004). Each is
 * a thin module over Ferry's use cases (src/app/), in a fastify scope of its own: it
 * authenticates its requests itself (the originals carried tokens in bodies, or none) and
 * answers in its system's shapes, with Ferry's error code added. Ferry's own API is unchanged by
 * any of them. The walk-through of each is in docs/seeds.md.
 */
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Ports } from "../app/ports.js";
import type { TokenCache } from "../api/auth.js";
import { dataPusherRoutes } from "./data-pusher.js";
import { webhooksRoutes } from "./webhooks.js";
import { adsRoutes } from "./ads.js";

export interface CompatDeps extends Ports {
  config: Config;
  adminTokenHash: Buffer;
  /** The API's cache of account tokens (callerForToken reads it; revoking clears it). */
  tokenCache: TokenCache;
  logger: Logger;
  /** Told how many postbacks a compat route queued: counts them, and wakes a worker. */
  onEnqueued: (postbacks: number) => void;
}

const MODULES = {
  "data-pusher": dataPusherRoutes,
  webhooks: webhooksRoutes,
  ads: adsRoutes,
} as const;

/** Registers the module of each system in FERRY_COMPAT, each in its own scope. */
export async function compatRoutes(app: FastifyInstance, deps: CompatDeps): Promise<void> {
  for (const system of deps.config.compatSystems) {
    const routes = MODULES[system];
    await app.register(async (scope) => {
      // Listed in the OpenAPI document under their own tag, apart from Ferry's API; a route that
      // declares no schema of its own is listed with its path and method alone.
      scope.addHook("onRoute", (route) => {
        route.schema = { ...route.schema, tags: ["compat"], summary: route.schema?.summary ?? `${system}: ${[route.method].flat().join(", ")} ${route.url}` };
      });
      await routes(scope, deps);
    });
  }
}
