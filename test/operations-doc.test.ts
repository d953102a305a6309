import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { SETTINGS, envName } from "../src/config.js";
import { repoPath } from "./support/paths.js";

const doc = readFileSync(repoPath("docs", "operations.md"), "utf8");
const documented = new Set([...doc.matchAll(/^\| `(FERRY_[A-Z_]+)` \|/gm)].map((m) => m[1]));

test("docs/operations.md documents every setting, with its default", () => {
  for (const [name, spec] of Object.entries(SETTINGS)) {
    const variable = envName(name);
    assert.ok(documented.has(variable), `${variable} is missing from the settings table in docs/operations.md`);
    if ("default" in spec && spec.default !== "") {
      const row = doc.split("\n").find((line) => line.startsWith(`| \`${variable}\` |`))!;
      assert.ok(row.includes(`\`${String(spec.default)}\``), `${variable}'s row does not show its default ${String(spec.default)}`);
    }
  }
});

test("docs/operations.md documents no setting that does not exist", () => {
  const known = new Set(Object.keys(SETTINGS).map(envName));
  for (const variable of documented) assert.ok(known.has(variable!), `docs/operations.md lists ${variable}, which src/config.ts does not read`);
});
