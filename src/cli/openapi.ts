/**
 * The OpenAPI document of Ferry's own API, as `npm run openapi` writes it to docs/openapi.json
 * and as test/openapi.test.ts compares it: the app built on a throwaway SQLite directory with
 * the default settings (no FERRY_COMPAT: the seed systems' routes are in the document a running
 * Ferry serves at /openapi.json when they are on), then asked for its document.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import pino from "pino";
import { loadConfig } from "../config.js";
import { openBackends } from "../backends.js";
import { buildApp } from "../api/app.js";
import { hashToken } from "../app/tokens.js";
import { VERSION } from "../version.js";

/** The document as docs/openapi.json holds it: two-space JSON and a final newline. */
export async function openApiText(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "ferry-openapi-"));
  try {
    const config = loadConfig({}, { data_dir: dir, admin_token: randomBytes(24).toString("hex"), log_level: "silent" });
    const backends = await openBackends(config);
    try {
      const app = await buildApp({ config, queue: backends.queue, stores: backends.stores, adminTokenHash: hashToken(config.admin_token!), logger: pino({ level: "silent" }), version: VERSION });
      try {
        await app.ready();
        return JSON.stringify(app.swagger(), null, 2) + "\n";
      } finally {
        await app.close();
      }
    } finally {
      await backends.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
