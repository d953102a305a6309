/**
 * The layers above src/core keep to their imports: src/app (what the product does) reaches only
 * src/core and the queue and store ports, never an adapter or fastify, so the API and the CLI
 * share it; src/api reaches src/core, src/app, the ports and the wiring files, never an adapter.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { repoPath } from "./support/paths.js";

/** Module specifiers a source names (import/export from, import "x", import()); comments dropped. */
function specifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^;"'`]*?\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  return patterns.flatMap((p) => [...code.matchAll(p)].map((m) => m[1]!));
}

interface Layer {
  dir: string;
  /** Paths under src/ a module may import (a folder, or one file). */
  modules: string[];
  packages: string[];
}

/** Why `spec`, imported by `file`, breaks the layer's rule; undefined when allowed. */
function violation(layer: Layer, file: string, spec: string): string | undefined {
  if (spec.startsWith("node:")) return undefined;
  if (spec.startsWith(".")) {
    const target = relative(repoPath("src"), resolve(dirname(file), spec)).split(sep).join("/").replace(/\.js$/, ".ts");
    return layer.modules.some((m) => target === m || target.startsWith(m + "/")) ? undefined : `imports src/${target}`;
  }
  const pkg = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
  return layer.packages.includes(pkg) ? undefined : `imports the package "${pkg}"`;
}

const PORTS = ["queue/port.ts", "store/port.ts"];
const APP: Layer = { dir: "app", modules: ["app", "core", ...PORTS], packages: [] };
const API: Layer = { dir: "api", modules: ["api", "app", "core", ...PORTS, "config.ts", "log.ts", "version.ts"], packages: ["fastify", "pino"] };

function check(layer: Layer): string[] {
  const dir = repoPath("src", layer.dir);
  return readdirSync(dir)
    .filter((f) => f.endsWith(".ts"))
    .flatMap((f) => {
      const file = join(dir, f);
      return specifiers(readFileSync(file, "utf8")).flatMap((spec) => {
        const why = violation(layer, file, spec);
        return why ? [`src/${layer.dir}/${f} ${why}`] : [];
      });
    });
}

test("the rule can fail: an adapter or fastify in src/app is caught", () => {
  const file = repoPath("src", "app", "x.ts");
  assert.match(violation(APP, file, "../queue/redis.js") ?? "", /queue\/redis\.ts/);
  assert.match(violation(APP, file, "../store/sqlite.js") ?? "", /store\/sqlite\.ts/);
  assert.match(violation(APP, file, "../api/common.js") ?? "", /api\/common\.ts/);
  assert.match(violation(APP, file, "fastify") ?? "", /fastify/);
  assert.equal(violation(APP, file, "../queue/port.js"), undefined);
  assert.equal(violation(APP, file, "../core/errors.js"), undefined);
  assert.match(violation(API, repoPath("src", "api", "x.ts"), "../backends.js") ?? "", /backends\.ts/);
});

test("src/app imports only src/core, src/app and the queue and store ports", () => {
  assert.deepEqual(check(APP), []);
});

test("src/api imports only src/core, src/app, the ports and the wiring files (config, log, version)", () => {
  assert.deepEqual(check(API), []);
});
