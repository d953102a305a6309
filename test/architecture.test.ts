/**
 * The layers, guarded by scanning every import of every source file.
 *
 * - src/core stays pure: its modules import only each other, node: builtins, `ulid`, and `ajv`
 *   with `ajv-formats` (event data is checked against JSON Schemas in memory). No adapter, no
 *   fastify, undici, pino or SQLite, so the rules can be tested and reused alone.
 * - src/api and src/delivery (the edges) reach storage only through the ports, and the rest of
 *   Ferry only through src/core and src/app (the use cases); see `edgeRule`.
 * - The adapters (src/queue, src/store, but their port.ts) never reach up into the API, the use
 *   cases, the worker or the CLI; see `adapterRule`.
 * - src/app (the use cases) knows src/core and the ports only; see `appRule`.
 *
 * Each rule has a self-test proving it can fail, and breaches known today are listed, exactly,
 * in KNOWN_VIOLATIONS.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { repoPath } from "./support/paths.js";

const CORE = repoPath("src", "core");
/** Pure libraries: ulid makes ids; ajv (with ajv-formats) compiles JSON Schemas, no I/O. */
const ALLOWED_PACKAGES = new Set(["ulid", "ajv", "ajv-formats"]);

interface Import {
  spec: string;
  /**
   * Written `import type ... from` or `export type ... from`: erased by the compiler, so it adds
   * no load-time dependency. `import { type X }` and `import("m")` count as value imports (the
   * scanner cannot tell they vanish, so it assumes they do not).
   */
  typeOnly: boolean;
}

/** Every module a TypeScript source imports: import/export from, import "x", import(), require(). */
function imports(source: string): Import[] {
  // Comments could hide or fake an import: drop them (keeping strings intact is enough here).
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  const found: Import[] = [];
  // import x from "m", export * from "m", multi-line lists; group 1 is "type " when type-only
  for (const m of code.matchAll(/\b(?:import|export)\s+(type\s+)?[^;"'`]*?\bfrom\s*["']([^"']+)["']/g)) {
    found.push({ spec: m[2]!, typeOnly: m[1] !== undefined });
  }
  const patterns = [
    /\bimport\s*["']([^"']+)["']/g, // import "m"
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g, // import("m"), import type in a type position
    /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g, // require("m")
  ];
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) found.push({ spec: m[1]!, typeOnly: false });
  return found;
}

/** Every module specifier a TypeScript source names. */
function specifiers(source: string): string[] {
  return imports(source).map((i) => i.spec);
}

/** The .ts files under `dir`, recursively; none when it does not exist (src/app may not yet). */
function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(path);
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
  assert.equal(violation(file, "ajv/dist/2020.js"), undefined);
  assert.match(violation(file, "ajv-evil") ?? "", /"ajv-evil"/);
  assert.match(violation(file, "../store/port.js") ?? "", /outside src\/core/);
  assert.match(violation(file, "./../api/app.js") ?? "", /outside src\/core/);
  assert.match(violation(file, "fastify") ?? "", /"fastify"/);
  assert.match(violation(file, "better-sqlite3") ?? "", /"better-sqlite3"/);
  assert.match(violation(file, "fs") ?? "", /"fs"/, "bare builtins must be spelled node:");
  assert.match(violation(file, "ulid-evil") ?? "", /"ulid-evil"/);
});

test("src/core imports nothing outside src/core but node: builtins, ulid and ajv", () => {
  const files = tsFiles(CORE);
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

// ---------------------------------------------------------------------------------------------
// The layers around src/core. Paths below are repo-relative with forward slashes; an imported
// module is named by its source file (`../resend.js` is src/resend.ts) or its package.

/** The two ports: the only part of src/queue and src/store the layers above may know. */
const PORTS = new Set(["src/queue/port.ts", "src/store/port.ts", "src/limits/port.ts"]);
/** Files that read settings, make loggers, name the version and open the backends. */
const WIRING_FILES = new Set(["src/config.ts", "src/log.ts", "src/version.ts", "src/backends.ts"]);
/**
 * Modules that build their layer from the settings and the backends, and so may import any
 * wiring file: the worker's factory and its thread's entry point. Every other module of
 * src/api and src/delivery gets what it needs passed in; it may import only the Config *type*
 * (`import type { Config } from "../config.js"`), which is erased at build and loads nothing.
 */
const WIRING_MODULES = new Set(["src/delivery/create-worker.ts", "src/delivery/thread.ts"]);
/**
 * What an adapter must never import: the API, the use cases, the worker, the CLI (and `ferry
 * doctor`, which reaches into the adapters as the CLI does), and the
 * modules that run them (src/service.ts) or are use cases not yet moved (src/resend.ts).
 */
const ABOVE_ADAPTERS = ["src/api/", "src/app/", "src/delivery/", "src/cli/", "src/doctor/", "src/compat/", "src/service.ts", "src/resend.ts"];
/** The packages Ferry ships with: a src/api or src/delivery module may import these. */
const DEPENDENCIES = new Set(Object.keys((JSON.parse(readFileSync(repoPath("package.json"), "utf8")) as { dependencies: Record<string, string> }).dependencies));

type Target = { kind: "builtin"; name: string } | { kind: "package"; name: string } | { kind: "file"; name: string };

/** What `spec`, imported by the repo-relative `from`, names. */
function target(from: string, spec: string): Target {
  if (spec.startsWith("node:")) return { kind: "builtin", name: spec };
  if (spec.startsWith(".")) {
    const path = relative(repoPath(), resolve(dirname(repoPath(from)), spec)).split(sep).join("/");
    return { kind: "file", name: path.replace(/\.js$/, ".ts") };
  }
  return { kind: "package", name: spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]! };
}

const inside = (path: string, dir: string) => path.startsWith(dir + "/");
/** src/api or src/delivery for a file in it (or deeper). */
const folderOf = (path: string) => path.split("/").slice(0, 2).join("/");

type Rule = (from: string, imported: Import) => string | undefined;

/**
 * (a) src/api, src/delivery and src/compat import only: src/core, src/app, the ports, their own folder
 * (api from api, delivery from delivery; not each other; compat from api too, and api/app.ts from
 * compat/index.ts), node: builtins and the packages in
 * package.json's dependencies. Wiring files only from WIRING_MODULES, except that any of them
 * may `import type` from src/config.ts.
 */
const edgeRule: Rule = (from, imported) => {
  const t = target(from, imported.spec);
  if (t.kind === "builtin") return undefined;
  if (t.kind === "package") {
    return DEPENDENCIES.has(t.name) ? undefined : `imports "${t.name}", which is no dependency in package.json (builtins are spelled node:)`;
  }
  const own = folderOf(from);
  if (inside(t.name, "src/core") || inside(t.name, "src/app") || PORTS.has(t.name) || inside(t.name, own)) return undefined;
  // The seed systems' routes (src/compat) are more of the API: they use its helpers (auth,
  // validation), and the app registers them through their index, nothing else of theirs.
  if (own === "src/compat" && inside(t.name, "src/api")) return undefined;
  if (from === "src/api/app.ts" && t.name === "src/compat/index.ts") return undefined;
  if (WIRING_FILES.has(t.name)) {
    if (WIRING_MODULES.has(from)) return undefined;
    if (t.name === "src/config.ts" && imported.typeOnly) return undefined;
    return t.name === "src/config.ts"
      ? "imports src/config.ts for a value; outside the wiring modules only `import type` is allowed"
      : `imports the wiring file ${t.name}, which only the wiring modules may`;
  }
  return `imports ${t.name}: ${own} may import only src/core, src/app, the ports and ${own}`;
};

/** (b) An adapter (src/queue/*, src/store/*, but port.ts) imports nothing from ABOVE_ADAPTERS. */
const adapterRule: Rule = (from, imported) => {
  const t = target(from, imported.spec);
  if (t.kind !== "file") return undefined;
  const above = ABOVE_ADAPTERS.find((p) => (p.endsWith("/") ? t.name.startsWith(p) : t.name === p));
  return above ? `imports ${t.name}: an adapter must not depend on ${above}` : undefined;
};

/** (c) src/app imports only src/core, the two ports, src/app itself and node: builtins; no package. */
const appRule: Rule = (from, imported) => {
  const t = target(from, imported.spec);
  if (t.kind === "builtin") return undefined;
  if (t.kind === "package") return `imports the package "${t.name}": use cases use src/core and the ports only`;
  if (inside(t.name, "src/core") || inside(t.name, "src/app") || PORTS.has(t.name)) return undefined;
  return `imports ${t.name}: src/app may import only src/core, the ports and src/app`;
};

/** Which files each rule covers. */
const LAYERS: { name: string; dirs: string[]; except?: Set<string>; rule: Rule }[] = [
  { name: "api and delivery", dirs: ["src/api", "src/delivery", "src/compat"], rule: edgeRule },
  { name: "adapters", dirs: ["src/queue", "src/store", "src/limits"], except: PORTS, rule: adapterRule },
  { name: "use cases", dirs: ["src/app"], rule: appRule },
];

/**
 * Breaches of the rules above that exist today, as `importer -> imported`. Every entry is debt
 * being removed by the use-case work in flight (the move of use cases into src/app); the lead
 * empties this list at merge. The test fails on a breach that is not listed, and on a listed
 * one that no longer occurs, so the list cannot go stale or hide a new breach.
 */
const KNOWN_VIOLATIONS: readonly string[] = [
  // None. A breach that must land before it can be fixed is listed here as "file -> target",
  // with why; the test fails once it is gone, so the list cannot go stale.
];

interface Breach {
  key: string;
  why: string;
}

function breaches(): { found: Breach[]; scanned: Map<string, number> } {
  const found: Breach[] = [];
  const scanned = new Map<string, number>();
  for (const layer of LAYERS) {
    for (const dir of layer.dirs) {
      for (const file of tsFiles(repoPath(dir))) {
        const from = relative(repoPath(), file).split(sep).join("/");
        if (layer.except?.has(from)) continue;
        const list = imports(readFileSync(file, "utf8"));
        scanned.set(from, list.length);
        for (const imported of list) {
          const why = layer.rule(from, imported);
          if (why) found.push({ key: `${from} -> ${target(from, imported.spec).name}`, why: `${layer.name}: ${why}` });
        }
      }
    }
  }
  return { found, scanned };
}

/** Breaches not in the known list, and known entries that no longer occur. */
function compare(found: Breach[], known: readonly string[]): { unlisted: string[]; stale: string[] } {
  const keys = new Set(found.map((b) => b.key));
  return {
    unlisted: found.filter((b) => !known.includes(b.key)).map((b) => `${b.key} (${b.why})`),
    stale: known.filter((k) => !keys.has(k)),
  };
}

test("the scanner tells type-only imports from value imports", () => {
  const sample = [
    'import type { Config } from "../config.js";',
    'import { type Config as C } from "../config.js";',
    'import { loadConfig } from "../config.js";',
    'export type { Queue } from "../queue/port.js";',
    'import typeish from "./typeish.js";',
    'type Q = import("../config.js").Config;',
  ].join("\n");
  assert.deepEqual(
    imports(sample).map((i) => `${i.spec} ${i.typeOnly ? "type" : "value"}`).sort(),
    ["../config.js type", "../config.js value", "../config.js value", "../queue/port.js type", "./typeish.js value", "../config.js value"].sort(),
  );
});

test("each layer rule can fail (so the scan below means something)", () => {
  const value = (spec: string): Import => ({ spec, typeOnly: false });
  const type = (spec: string): Import => ({ spec, typeOnly: true });
  // (a) src/api and src/delivery
  const api = "src/api/push.ts";
  for (const ok of ["../core/errors.js", "../app/push.js", "../queue/port.js", "../store/port.js", "./common.js", "node:crypto", "fastify", "pino"]) {
    assert.equal(edgeRule(api, value(ok)), undefined, `api may import ${ok}`);
  }
  assert.equal(edgeRule(api, type("../config.js")), undefined, "api may import the Config type");
  assert.match(edgeRule(api, value("../config.js")) ?? "", /src\/config\.ts for a value/);
  assert.match(edgeRule(api, value("../resend.js")) ?? "", /imports src\/resend\.ts/);
  assert.match(edgeRule(api, value("../queue/sqlite.js")) ?? "", /imports src\/queue\/sqlite\.ts/);
  assert.match(edgeRule(api, type("../store/postgres.js")) ?? "", /imports src\/store\/postgres\.ts/, "a type-only import of an adapter is a breach too");
  assert.match(edgeRule(api, value("../delivery/worker.js")) ?? "", /src\/api may import only/, "api does not import delivery");
  assert.match(edgeRule("src/delivery/worker.ts", value("../api/common.js")) ?? "", /src\/delivery may import only/, "delivery does not import api");
  assert.match(edgeRule(api, value("../backends.js")) ?? "", /wiring file src\/backends\.ts/);
  assert.match(edgeRule(api, type("../log.js")) ?? "", /wiring file src\/log\.ts/, "only config's type is free");
  assert.match(edgeRule(api, value("better-sqlite3-evil")) ?? "", /no dependency/);
  assert.match(edgeRule(api, value("fs")) ?? "", /no dependency/, "bare builtins must be spelled node:");
  assert.match(edgeRule(api, value("standardwebhooks")) ?? "", /no dependency/, "a devDependency does not ship");
  for (const wiring of ["../backends.js", "../config.js", "../log.js", "../version.js"]) {
    assert.equal(edgeRule("src/delivery/thread.ts", value(wiring)), undefined, `a wiring module may import ${wiring}`);
  }
  assert.match(edgeRule("src/delivery/worker.ts", value("../version.js")) ?? "", /wiring file src\/version\.ts/);
  // (b) adapters
  const adapter = "src/store/sqlite.ts";
  for (const ok of ["../core/types.js", "./port.js", "./rows.js", "../sqlite.js", "../backend-error.js", "../config.js", "pg", "node:fs"]) {
    assert.equal(adapterRule(adapter, value(ok)), undefined, `an adapter may import ${ok}`);
  }
  for (const [spec, what] of [["../api/common.js", "src/api/"], ["../app/push.js", "src/app/"], ["../delivery/worker.js", "src/delivery/"], ["../cli/main.js", "src/cli/"], ["../service.js", "src/service.ts"], ["../resend.js", "src/resend.ts"]] as const) {
    assert.match(adapterRule("src/queue/redis.ts", type(spec)) ?? "", new RegExp(`must not depend on ${what.replace(/\./g, "\\.")}`), spec);
  }
  // (c) src/app
  const app = "src/app/push.ts";
  for (const ok of ["../core/ids.js", "../queue/port.js", "../store/port.js", "./ports.js", "node:crypto"]) {
    assert.equal(appRule(app, value(ok)), undefined, `src/app may import ${ok}`);
  }
  assert.match(appRule(app, value("../store/sqlite.js")) ?? "", /src\/app may import only/);
  assert.match(appRule(app, type("../config.js")) ?? "", /src\/app may import only/);
  assert.match(appRule(app, value("../api/common.js")) ?? "", /src\/app may import only/);
  assert.match(appRule(app, value("../delivery/worker.js")) ?? "", /src\/app may import only/);
  assert.match(appRule(app, value("fastify")) ?? "", /the package "fastify"/);
  // The known list works both ways: an unlisted breach and a stale entry are both reported.
  const found = [{ key: "src/api/a.ts -> src/x.ts", why: "w" }, { key: "src/api/b.ts -> src/y.ts", why: "w" }];
  assert.deepEqual(compare(found, ["src/api/a.ts -> src/x.ts", "src/api/gone.ts -> src/z.ts"]), {
    unlisted: ["src/api/b.ts -> src/y.ts (w)"],
    stale: ["src/api/gone.ts -> src/z.ts"],
  });
  assert.deepEqual(compare(found, found.map((b) => b.key)), { unlisted: [], stale: [] });
});

test("src/api, src/delivery, the adapters and src/app import only what their layer may; KNOWN_VIOLATIONS is exact", () => {
  const { found, scanned } = breaches();
  // The scan must have seen the layers, or it proves nothing.
  for (const expected of ["src/api/app.ts", "src/api/push.ts", "src/delivery/worker.ts", "src/delivery/thread.ts", "src/queue/redis.ts", "src/queue/sqlite.ts", "src/store/sqlite.ts", "src/store/postgres.ts"]) {
    assert.ok((scanned.get(expected) ?? 0) > 0, `${expected} was scanned and has imports`);
  }
  assert.ok(!scanned.has("src/queue/port.ts") && !scanned.has("src/store/port.ts"), "the ports are not adapters");
  const { unlisted, stale } = compare(found, KNOWN_VIOLATIONS);
  assert.deepEqual(
    { unlisted, stale },
    { unlisted: [], stale: [] },
    [
      ...(unlisted.length ? ["imports that break the layering (fix them; do not add them to KNOWN_VIOLATIONS):", ...unlisted] : []),
      ...(stale.length ? ["KNOWN_VIOLATIONS entries that no longer occur (remove them from the list):", ...stale] : []),
    ].join("\n"),
  );
});
