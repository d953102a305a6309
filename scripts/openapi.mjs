#!/usr/bin/env node
/**
 * `npm run openapi`: writes docs/openapi.json, the OpenAPI 3.1 document made from the routes'
 * schemas (src/api/schemas/, src/cli/openapi.ts). Run it after changing a route; the test
 * test/openapi.test.ts fails while the committed file differs from what the routes make.
 * Runs on the compiled code: `npm run openapi` builds first.
 */
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { openApiText } = await import(join(root, "dist", "src", "cli", "openapi.js"));
const path = join(root, "docs", "openapi.json");
writeFileSync(path, await openApiText());
console.log(`wrote ${path}`);
