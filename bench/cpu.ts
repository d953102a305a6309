/**
 * CPU time per process from /proc/<pid>/stat (utime + stime), so a phase can say where the
 * machine's cores went: each Ferry process, the receiver, the load generator, redis-server and
 * the Postgres backends serving the bench's database. Linux only; elsewhere it reports nothing.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

const TICK_MS = (() => {
  try {
    return 1000 / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
  } catch {
    return 10;
  }
})();

export function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start at ") ".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime, stime
  } catch {
    return undefined;
  }
}

/** Postgres backend processes connected to `database` (their title names it). */
export function postgresBackends(database: string): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8");
      if (cmd.startsWith("postgres: ") && cmd.includes(` ${database} `)) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

export type Group = { name: string; pids: () => number[] };

/** Starts counting; `stop` gives CPU ms per group over the interval (a process born meanwhile counts from 0). */
export function cpuMeter(groups: Group[]): { stop(): Record<string, number> } {
  const start = new Map<number, number>();
  for (const g of groups) for (const pid of g.pids()) start.set(pid, cpuMs(pid) ?? 0);
  return {
    stop() {
      const out: Record<string, number> = {};
      for (const g of groups) {
        let ms = 0;
        for (const pid of g.pids()) {
          const now = cpuMs(pid);
          if (now !== undefined) ms += now - (start.get(pid) ?? 0);
        }
        out[g.name] = Math.round(ms);
      }
      return out;
    },
  };
}
