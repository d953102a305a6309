/**
 * `ferry doctor`: loads the config as `ferry start/api/worker` do (FERRY_* variables, the
 * FERRY_CONFIG file) and checks it and the world it runs in, one group of checks after another,
 * each network step under a timeout. Prints the findings for a person, or with `--json` one JSON
 * document and nothing else on stdout.
 *
 * Exit codes: 0 nothing failed (warnings allowed), 1 a check failed, 2 the config itself is
 * invalid (as `ferry start` exits on it) or the arguments are wrong.
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type Config } from "../config.js";
import { VERSION } from "../version.js";
import { fail, ok, skip, type Finding, type Report } from "./check.js";
import { checkDataDir } from "./data-dir.js";
import { checkRedis } from "./redis.js";
import { checkPostgres } from "./postgres.js";
import { checkAdminToken, checkSsrf } from "./security.js";

/** Every group of checks that needs a config, in the order they run and print. */
const GROUPS: { name: string; names: string[]; run: (config: Config, report: Report) => void | Promise<void> }[] = [
  { name: "data dir", names: ["data_dir", "disk", "sqlite"], run: checkDataDir },
  { name: "Redis", names: ["redis"], run: checkRedis },
  { name: "Postgres", names: ["postgres"], run: checkPostgres },
  { name: "SSRF guard", names: ["ssrf"], run: checkSsrf },
  { name: "admin token", names: ["admin_token"], run: checkAdminToken },
];

export interface DoctorResult {
  ok: boolean;
  checks: Finding[];
}

/** Runs every check; never throws. `configError` is set when the config could not be read. */
export async function diagnose(env: NodeJS.ProcessEnv = process.env): Promise<DoctorResult & { configError: boolean }> {
  const checks: Finding[] = [];
  const report: Report = (f) => checks.push(f);
  let config: Config;
  try {
    config = loadConfig(env);
    const file = env["FERRY_CONFIG"];
    report(ok("config", `settings read from the environment${file ? ` and ${file}` : ""}`));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // The message names the setting and never holds a secret's value (config shows "(hidden)").
    report(fail("config", err.message.replace(/\n/g, "; "), "correct the setting named (docs/operations.md lists them all)"));
    for (const g of GROUPS) for (const name of g.names) report(skip(name, "not checked: the config is invalid"));
    return { ok: false, checks, configError: true };
  }
  for (const group of GROUPS) {
    try {
      await group.run(config, report);
    } catch (err) {
      // A check that throws is a bug in doctor, not in the world; report it and go on.
      report(fail(group.names[0]!, `the ${group.name} check itself failed: ${(err as Error).message}`, "report this as a bug in ferry doctor"));
    }
  }
  return { ok: !checks.some((c) => c.status === "fail"), checks, configError: false };
}

const LABEL: Record<Finding["status"], string> = { ok: "ok  ", warn: "WARN", fail: "FAIL", skip: "skip" };

export function formatHuman(result: DoctorResult): string {
  const width = Math.max(...result.checks.map((c) => c.name.length));
  const lines = [`ferry doctor ${VERSION}`, ""];
  for (const c of result.checks) {
    lines.push(`${LABEL[c.status]}  ${c.name.padEnd(width)}  ${c.message}`);
    if (c.fix && c.status !== "ok") lines.push(`${" ".repeat(6 + width + 2)}fix: ${c.fix}`);
  }
  const count = (s: Finding["status"]) => result.checks.filter((c) => c.status === s).length;
  const failures = count("fail");
  const warnings = count("warn");
  lines.push("", `${failures} failed, ${warnings} warning${warnings === 1 ? "" : "s"}, ${count("ok")} ok, ${count("skip")} skipped`);
  return lines.join("\n") + "\n";
}

export async function doctor(args: string[]): Promise<number> {
  let json = false;
  try {
    ({ values: { json = false } } = parseArgs({ args, options: { json: { type: "boolean" } } }));
  } catch (err) {
    process.stderr.write(`ferry doctor: ${(err as Error).message}\nusage: ferry doctor [--json]\n`);
    return 2;
  }
  const result = await diagnose();
  const out: DoctorResult = { ok: result.ok, checks: result.checks };
  process.stdout.write(json ? JSON.stringify(out, null, 2) + "\n" : formatHuman(out));
  if (result.configError) return 2;
  return result.ok ? 0 : 1;
}
