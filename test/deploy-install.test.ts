/**
 * deploy/install.sh run for real into a temp root (--root, --no-systemctl: systemd is not PID 1
 * on this machine, and this machine's own /etc stays untouched). It must lay down the user,
 * /opt/ferry, a 0600 env file with a generated admin token, /var/lib/ferry owned by ferry and
 * the units; a second run keeps the token; and what it installed must start and be ready.
 * `npm ci` in /opt/ferry is skipped (--skip-npm: minutes and a registry); the test links the
 * checkout's node_modules there instead.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, statSync, symlinkSync, writeFileSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./support/harness.js";
import { repoPath } from "./support/paths.js";
import { missingTool } from "./support/tools.js";
import { freePort, killAll } from "./support/processes.js";

const INSTALL = repoPath("deploy/install.sh");

function run(...args: string[]) {
  return spawnSync("bash", [INSTALL, ...args], { encoding: "utf8" });
}

test("install.sh: bash -n (and shellcheck where installed), and bad options say what is wrong", (t) => {
  assert.equal(spawnSync("bash", ["-n", INSTALL]).status, 0);
  // .ci/run installs shellcheck; elsewhere, where it is missing, only bash -n runs.
  const noShellcheck = missingTool("shellcheck");
  if (noShellcheck) t.diagnostic(`${noShellcheck}: skipped`);
  else {
    const lint = spawnSync("shellcheck", [INSTALL, repoPath("deploy/postgres/init-compose.sh")], { encoding: "utf8" });
    assert.equal(lint.status, 0, lint.stdout);
  }
  const unknown = run("--frobnicate");
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown option --frobnicate/);
  const missing = run("--root", "/nonexistent/ferry-root", "--no-systemctl");
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /--root \/nonexistent\/ferry-root: no such directory/);
});

test("install.sh --root DIR --no-systemctl: user, /opt/ferry, 0600 env file with a token, /var/lib/ferry, units; again keeps the token; the result starts and is ready", { skip: process.getuid?.() !== 0 && "needs root (useradd, chown)" }, async () => {
  const root = tempDir("ferry-install-root-");
  after(async () => {
    await killAll();
    root.cleanup();
  });
  mkdirSync(join(root.path, "etc"));
  writeFileSync(join(root.path, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n");
  writeFileSync(join(root.path, "etc/group"), "root:x:0:\n");
  writeFileSync(join(root.path, "etc/os-release"), 'ID=debian\nVERSION_ID="12"\n');

  const first = run("--root", root.path, "--no-systemctl", "--skip-npm");
  assert.equal(first.status, 0, first.stderr + first.stdout);
  assert.match(first.stdout, /created user ferry/);
  assert.match(first.stdout, /wrote \/etc\/ferry\/ferry\.env/);

  const user = readFileSync(join(root.path, "etc/passwd"), "utf8").split("\n").find((l) => l.startsWith("ferry:"))!.split(":");
  assert.equal(user[5], "/nonexistent");
  assert.equal(user[6], "/usr/sbin/nologin");
  const uid = Number(user[2]);
  assert.ok(uid > 0 && uid < 1000, `a system uid: ${uid}`);

  const env = join(root.path, "etc/ferry/ferry.env");
  const envStat = statSync(env);
  assert.equal(envStat.mode & 0o777, 0o600);
  assert.equal(envStat.uid, 0);
  const envText = readFileSync(env, "utf8");
  const token = /^FERRY_ADMIN_TOKEN=([0-9a-f]{64})$/m.exec(envText)?.[1];
  assert.ok(token, "a generated 256-bit admin token");
  assert.ok(!first.stdout.includes(token!) && !first.stderr.includes(token!), "the token is not printed");

  const data = statSync(join(root.path, "var/lib/ferry"));
  assert.equal(data.mode & 0o777, 0o700);
  assert.equal(data.uid, uid);

  for (const unit of readdirSync(repoPath("deploy/systemd"))) {
    const installed = join(root.path, "etc/systemd/system", unit);
    assert.equal(readFileSync(installed, "utf8"), readFileSync(repoPath("deploy/systemd", unit), "utf8"), unit);
    assert.equal(statSync(installed).mode & 0o777, 0o644, unit);
  }
  const app = join(root.path, "opt/ferry");
  for (const file of ["dist/src/cli/main.js", "deploy/ferry-ready.mjs", "package.json", "package-lock.json", "packages/client/dist/index.js"]) {
    const s = statSync(join(app, file));
    assert.equal(s.uid, 0, `${file}: root-owned`);
    assert.equal(s.mode & 0o022, 0, `${file}: not writable by the service`);
  }

  const again = run("--root", root.path, "--no-systemctl", "--skip-npm");
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /kept the existing \/etc\/ferry\/ferry\.env/);
  assert.equal(readFileSync(env, "utf8"), envText, "the second run keeps the token");
  assert.equal(readFileSync(join(root.path, "etc/passwd"), "utf8").match(/^ferry:/gm)?.length, 1);

  // What was installed runs: the units' command line, the env file's settings, the data dir,
  // then the units' ExecStartPost probe.
  symlinkSync(repoPath("node_modules"), join(app, "node_modules"));
  const settings: Record<string, string> = {};
  for (const line of envText.split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) settings[m[1]!] = m[2]!;
  }
  const port = await freePort();
  const procEnv: NodeJS.ProcessEnv = {
    PATH: process.env["PATH"],
    NODE_ENV: "production",
    ...settings,
    FERRY_DATA_DIR: join(root.path, "var/lib/ferry"),
    FERRY_PORT: String(port),
    FERRY_HOST: "127.0.0.1",
    FERRY_TEST_ONLY_LOCAL_DNS: "true",
  };
  const ferry = spawn(process.execPath, [join(app, "dist/src/cli/main.js"), "start"], { env: procEnv, cwd: app, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  ferry.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  ferry.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  try {
    const probe = spawnSync(process.execPath, [join(app, "deploy/ferry-ready.mjs"), "--timeout", "30"], { env: procEnv, encoding: "utf8" });
    assert.equal(probe.status, 0, `ferry-ready.mjs: ${probe.stderr}\n${output}`);
    const res = await fetch(`http://127.0.0.1:${port}/v1/accounts`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, "the generated token is the admin token");
    assert.ok(readdirSync(join(root.path, "var/lib/ferry")).includes("ferry.db"), "SQLite in the data dir");
  } finally {
    ferry.kill("SIGTERM");
    await new Promise((r) => ferry.once("close", r));
  }
});

test("deploy/ferry.env as shipped: Ferry refuses its placeholder admin token, naming the setting", async () => {
  const settings: Record<string, string> = {};
  for (const line of readFileSync(repoPath("deploy/ferry.env"), "utf8").split("\n")) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) settings[m[1]!] = m[2]!;
  }
  const dir = tempDir("ferry-env-example-");
  try {
    const r = spawnSync(process.execPath, [repoPath("dist/src/cli/main.js"), "start"], {
      encoding: "utf8",
      timeout: 20_000,
      env: { PATH: process.env["PATH"], ...settings, FERRY_DATA_DIR: dir.path, FERRY_PORT: String(await freePort()), FERRY_HOST: "127.0.0.1" },
    });
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /FERRY_ADMIN_TOKEN: must be at least 16 characters/);
  } finally {
    dir.cleanup();
  }
});
