/** TEMPORARY STUB of the lead's compat foundation (reverted before merging main). */
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Queue } from "../queue/port.js";
import type { Stores } from "../store/port.js";
import type { TokenCache } from "../api/auth.js";
import { dataPusherRoutes } from "./data-pusher.js";

export interface CompatDeps {
  config: Config;
  queue: Queue;
  stores: Stores;
  adminTokenHash: Buffer;
  tokenCache: TokenCache;
  logger: Logger;
  onEnqueued?: (() => void) | undefined;
}

export async function compatRoutes(app: FastifyInstance, deps: CompatDeps): Promise<void> {
  if (deps.config.compat.includes("data-pusher")) await app.register(async (scope) => dataPusherRoutes(scope, deps));
}
