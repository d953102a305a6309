/**
 * src/core stays pure: its modules import only each other, node: builtins and `ulid`. No
 * adapter, no fastify, undici, pino or SQLite, so the rules can be tested and reused alone.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { repoPath } from "./support/paths.js";

const CORE = repoPath("src", "core");
const ALLOWED_PACKAGES = new Set(["ulid"]);

/** Every module specifier a TypeScript source names: import/export from, import "x", import(), require(). */
function specifiers(source: string): string[] {
  // Comments could hide or fake an import: drop them (keeping strings intact is enough here).
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  const found: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^;"'`]*?\bfrom\s*["']([^"']+)["']/g, // import x from "m", export * from "m", multi-line lists
    /\bimport\s*["']([^"']+)["']/g, // import "m"
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g, // import("m"), import type in a type position
    /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g, // require("m")
  ];
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) found.push(m[1]!);
  return found;
}

function coreFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return coreFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** Why a specifier imported by `file` breaks the rule, or undefined when it is allowed. */
function violation(file: string, spec: string): string | undefined {
  if (spec.startsWith("node:")) return undefined;
  if (spec.startsWith(".")) {
    const target = resolve(dirname(file), spec);
    return target === CORE || target.startsWith(CORE + sep) ? undefined : `reaches outside src/core (${relative(repoPath(), target)})`;
  }
  const pkg = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
  return ALLOWED_PACKAGES.has(pkg) ? undefined : `imports the package "${pkg}"`;
}

test("the import scanner finds every form of import (so the rule below can fail)", () => {
  const sample = [
    'import { a } from "./a.js";',
    'import type { B } from "../store/port.js";',
    "import {",
    "  c,",
    "  d,",
    '} from "fastify";',
    "import * as e from 'undici';",
    'import "better-sqlite3";',
    'export { f } from "./f.js";',
    'export * from "pino";',
    'const g = await import("node:fs");',
    'type H = import("../queue/port.js").Queue;',
    'const i = require("@scope/pkg/sub");',
    '// import { gone } from "commented-out";',
    '/* import { gone2 } from "block-commented"; */',
    'const url = "http://partner/{x}"; // not an import',
  ].join("\n");
  assert.deepEqual(
    specifiers(sample).sort(),
    ["./a.js", "../store/port.js", "fastify", "undici", "better-sqlite3", "./f.js", "pino", "node:fs", "../queue/port.js", "@scope/pkg/sub"].sort(),
  );
  const file = join(CORE, "x.ts");
  assert.equal(violation(file, "./errors.js"), undefined);
  assert.equal(violation(file, "node:crypto"), undefined);
  assert.equal(violation(file, "ulid"), undefined);
  assert.match(violation(file, "../store/port.js") ?? "", /outside src\/core/);
  assert.match(violation(file, "./../api/app.js") ?? "", /outside src\/core/);
  assert.match(violation(file, "fastify") ?? "", /"fastify"/);
  assert.match(violation(file, "better-sqlite3") ?? "", /"better-sqlite3"/);
  assert.match(violation(file, "fs") ?? "", /"fs"/, "bare builtins must be spelled node:");
  assert.match(violation(file, "ulid-evil") ?? "", /"ulid-evil"/);
});

test("src/core imports nothing outside src/core but node: builtins and ulid", () => {
  const files = coreFiles(CORE);
  const names = files.map((f) => relative(CORE, f));
  for (const expected of ["template.ts", "retry.ts", "errors.ts", "ids.ts", "types.ts"]) {
    assert.ok(names.includes(expected), `src/core/${expected} was scanned`);
  }
  const problems: string[] = [];
  let imports = 0;
  for (const file of files) {
    for (const spec of specifiers(readFileSync(file, "utf8"))) {
      imports++;
      const why = violation(file, spec);
      if (why) problems.push(`src/core/${relative(CORE, file)}: "${spec}" ${why}`);
    }
  }
  assert.ok(imports > 0, "the scanner found no import in src/core at all");
  assert.deepEqual(problems, [], "src/core must stay pure:\n" + problems.join("\n"));
});
