/**
 * @ferry/client as another project gets it: `npm pack` of the workspace, installed from the
 * tarball into a fresh project (--prefer-offline: `npm ci` cached openapi-fetch's tarball but not
 * always its registry metadata, which a fresh machine's install fetches from the npm registry),
 * imported by its name from plain ESM, and called against a real Ferry.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./support/harness.js";
import { repoPath } from "./support/paths.js";
import { killAll, startServer } from "./support/processes.js";

const TOKEN = "client-package-admin-token-0123456789";
const project = tempDir("ferry-client-pack-");
const data = tempDir("ferry-client-pack-data-");

after(async () => {
  await killAll();
  project.cleanup();
  data.cleanup();
});

test("the npm pack tarball installs into another project, and its import calls a real Ferry", { timeout: 120_000 }, async () => {
  const npm = (args: string[], cwd: string) => execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  // The build before the tests compiled packages/client/dist: pack it as it is.
  npm(["pack", "--ignore-scripts", "--pack-destination", project.path], repoPath("packages", "client"));
  const tarball = readdirSync(project.path).find((f) => f.endsWith(".tgz"));
  assert.ok(tarball, "npm pack wrote a tarball");
  writeFileSync(join(project.path, "package.json"), JSON.stringify({ name: "uses-ferry", private: true, type: "module" }));
  npm(["install", `./${tarball}`, "--prefer-offline", "--no-audit", "--no-fund"], project.path);

  const ferry = await startServer("api", { FERRY_DATA_DIR: data.path, FERRY_ADMIN_TOKEN: TOKEN });
  writeFileSync(
    join(project.path, "main.js"),
    `import { Ferry, FerryError } from "@ferry/client";
const ferry = new Ferry({ url: process.argv[2], token: process.argv[3] });
const account = await ferry.accounts.create({ name: "Packed" });
const missing = await ferry.accounts.get("acct_missing").catch((err) => err instanceof FerryError && err.code);
console.log(JSON.stringify({ id: account.id, missing }));
`,
  );
  const out = JSON.parse(execFileSync(process.execPath, ["main.js", ferry.url, TOKEN], { cwd: project.path, encoding: "utf8" })) as { id: string; missing: string };
  assert.match(out.id, /^acct_/);
  assert.equal(out.missing, "account_not_found");
  const stored = (await (await fetch(`${ferry.url}/v1/accounts/${out.id}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { name: string };
  assert.equal(stored.name, "Packed");
});
