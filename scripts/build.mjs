#!/usr/bin/env node
/**
 * `npm run build`: compiles the TypeScript into a fresh dist/, copies the files tsc does not
 * (the Redis functions' .lua sources, the dashboard's static files), and marks the `ferry` bin executable.
 *
 * Why the last step: tsc writes files without the execute bit, and npx (or `npm link`) points
 * `ferry` at dist/src/cli/main.js itself. Without it, every `npx ferry …` after a rebuild
 * (`npm start` rebuilds) answered "Permission denied".
 *
 * The workspace package @ferry/client (packages/client) is compiled first, into its own dist/:
 * Ferry's tests import it by its package name, whose exports point at that dist/ (.js and .d.ts).
 * Its types are generated from docs/openapi.json first (openapi-typescript writes
 * packages/client/src/openapi.ts), so they can never lag behind the committed document.
 *
 * `--outDir DIR` builds elsewhere (the test of this script uses it).
 */
import { chmodSync, cpSync, readdirSync, rmSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const i = process.argv.indexOf("--outDir");
const outDir = i === -1 ? join(root, "dist") : process.argv[i + 1];
if (!outDir) {
  console.error("usage: node scripts/build.mjs [--outDir DIR]");
  process.exit(2);
}

rmSync(outDir, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

const client = join(root, "packages", "client");
rmSync(join(client, "dist"), { recursive: true, force: true });
const generate = spawnSync(
  process.execPath,
  [join(root, "node_modules", "openapi-typescript", "bin", "cli.js"), join(root, "docs", "openapi.json"), "--output", join(client, "src", "openapi.ts")],
  { encoding: "utf8" },
);
if (generate.status !== 0) {
  process.stderr.write(generate.stdout + generate.stderr);
  process.exit(generate.status ?? 1);
}
const clientRun = spawnSync(process.execPath, [tsc, "-p", join(client, "tsconfig.json")], { stdio: "inherit" });
if (clientRun.status !== 0) process.exit(clientRun.status ?? 1);

const args = [tsc, "-p", join(root, "tsconfig.json"), "--outDir", outDir, "--tsBuildInfoFile", join(outDir, ".tsbuildinfo")];
const run = spawnSync(process.execPath, args, { stdio: "inherit" });
if (run.status !== 0) process.exit(run.status ?? 1);

/** Files under src/ that the compiled code reads at run time, copied beside it. */
function copyAssets(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) copyAssets(path);
    else if (entry.name.endsWith(".lua")) cpSync(path, join(outDir, relative(root, path)));
  }
}
copyAssets(join(root, "src"));
// The dashboard's page, script and stylesheet are served as they are (src/api/dashboard.ts).
cpSync(join(root, "src", "dashboard"), join(outDir, "src", "dashboard"), { recursive: true });

const bin = join(outDir, "src", "cli", "main.js");
chmodSync(bin, statSync(bin).mode | 0o111);
