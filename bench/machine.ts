/** What the bench ran on: CPU, cores, memory, OS, Node, Redis and Postgres versions, commit. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, release, totalmem } from "node:os";

export interface Machine {
  cpu: string;
  cores: number;
  memory_gib: number;
  os: string;
  node: string;
  /** 1-minute load average when the bench started: other work on the machine shows here. */
  load_average_at_start: number;
  commit: string;
}

export function describeMachine(root: string): Machine {
  let cpu = cpus()[0]?.model ?? "unknown CPU";
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux: os.cpus() it is
  }
  let os = `${process.platform} ${release()}`;
  try {
    const name = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1];
    if (name) os = `${name}, kernel ${release()}`;
  } catch {
    // no os-release
  }
  return {
    cpu,
    cores: availableParallelism(),
    memory_gib: Math.round(totalmem() / 2 ** 30),
    os,
    node: process.version,
    load_average_at_start: Math.round(loadavg()[0]! * 100) / 100,
    commit: gitCommit(root),
  };
}

function gitCommit(cwd: string): string {
  // An export of a commit (git archive) is no checkout: say which commit it was.
  if (process.env["BENCH_COMMIT"]) return process.env["BENCH_COMMIT"];
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no", "--", "src"], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    return dirty ? `${head} (src/ modified)` : head;
  } catch {
    return "unknown";
  }
}
