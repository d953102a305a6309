/**
 * GET /dashboard: the delivery dashboard, static files served by Ferry itself.
 *
 * The page (src/dashboard/, copied beside the compiled code by scripts/build.mjs) is plain
 * HTML, one CSS file and ES modules: nothing to build. uPlot, the chart library, is served from
 * the installed package (node_modules/uplot/dist), never a CDN, so the dashboard works on a
 * network with no internet.
 *
 * These routes need no token: the files hold no data. The page asks for the token and sends it
 * as a Bearer header on every API call, where the API checks it as on any other request.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { ApiError } from "../core/errors.js";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

/**
 * Every file the dashboard serves, by the name in its URL: a fixed list, so no request path is
 * ever joined to a file path (nothing to traverse out of).
 */
const FILES: Record<string, { path: () => string; type: string }> = {
  "index.html": { path: () => join(here, "..", "dashboard", "index.html"), type: "text/html; charset=utf-8" },
  "app.js": { path: () => join(here, "..", "dashboard", "app.js"), type: "text/javascript; charset=utf-8" },
  "style.css": { path: () => join(here, "..", "dashboard", "style.css"), type: "text/css; charset=utf-8" },
  "uPlot.esm.js": { path: () => require.resolve("uplot/dist/uPlot.esm.js"), type: "text/javascript; charset=utf-8" },
  "uPlot.min.css": { path: () => require.resolve("uplot/dist/uPlot.min.css"), type: "text/css; charset=utf-8" },
};

/**
 * The page loads only its own files and talks only to this origin. uPlot sizes its elements
 * through inline styles, hence 'unsafe-inline' for styles (never for scripts).
 */
const HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  // Revalidated on every load, so a Ferry upgrade never runs an old app.js against a new API.
  "cache-control": "no-cache",
};

export function dashboardRoutes(app: FastifyInstance): void {
  // Read once, on first use: a few tens of KiB, and the files do not change under a running process.
  const cache = new Map<string, Buffer>();
  const send = (name: string) => {
    // Own keys only: "constructor" or "__proto__" must be a 404, not Object.prototype's.
    const file = Object.hasOwn(FILES, name) ? FILES[name] : undefined;
    if (!file) throw new ApiError("not_found", `No dashboard file ${JSON.stringify(name)}; open /dashboard/.`);
    let body = cache.get(name);
    if (!body) {
      body = readFileSync(file.path());
      cache.set(name, body);
    }
    return { body, type: file.type };
  };

  // The page's own links are relative ("app.js", "../v1/..."), so it works under a path prefix
  // behind a proxy too; that needs the trailing slash.
  app.get("/dashboard", { schema: { hide: true } }, async (_request, reply) => reply.redirect("/dashboard/", 301));
  app.get("/dashboard/", { schema: { hide: true } }, async (_request, reply) => {
    const { body, type } = send("index.html");
    return reply.headers(HEADERS).type(type).send(body);
  });
  app.get<{ Params: { file: string } }>("/dashboard/:file", { schema: { hide: true } }, async (request, reply) => {
    const { body, type } = send(request.params.file);
    return reply.headers(HEADERS).type(type).send(body);
  });
}
