/**
 * Whether the data dir (FERRY_DATA_DIR) can hold Ferry's files, found out the only sure way:
 * by creating it if need be and writing a file in it. Permission bits do not say (root ignores
 * them; a read-only mount or a full disk does not show in them), so nothing here reads them.
 * Used at start-up, before anything opens or listens, and by `ferry doctor`.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "./config.js";
import { BackendError } from "./backend-error.js";

export interface Probe {
  /** The first directory the probe created (it did not exist before), if any. */
  created?: string;
}

/**
 * Creates the dir (and parents) if missing, then writes and removes a small file in it. Throws
 * the file system's error (ENOTDIR, EACCES, EROFS, ENOSPC, …) as it came. With `cleanup`,
 * directories the probe made are removed again, so that looking changes nothing.
 */
export function probeDataDir(dir: string, options: { cleanup?: boolean } = {}): Probe {
  const created = mkdirSync(dir, { recursive: true });
  const file = join(dir, `.ferry-write-test.${process.pid}`);
  try {
    writeFileSync(file, "ferry\n");
    rmSync(file, { force: true });
  } finally {
    if (options.cleanup && created) rmSync(created, { recursive: true, force: true });
  }
  return created ? { created } : {};
}

/** The operator's words for a failed probe: what is wrong with the path, and what to do. */
export function dataDirProblem(dir: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const why: Record<string, string> = {
    ENOTDIR: "a part of the path is a file, not a directory",
    EEXIST: "it is a file, not a directory",
    EACCES: "permission denied for the user Ferry runs as",
    EPERM: "permission denied for the user Ferry runs as",
    EROFS: "it is on a read-only file system",
    ENOSPC: "the disk is full",
    EDQUOT: "the user's disk quota is used up",
  };
  return `cannot write to ${dir}: ${(code && why[code]) ?? (err as Error).message}${code ? ` (${code})` : ""}`;
}

/** What uses the data dir under this config: the SQLite file, and the admin token's hash. */
export function dataDirUses(config: Pick<Config, "redis_url" | "database_url" | "admin_token">, role: "start" | "api" | "worker"): string[] {
  const uses: string[] = [];
  if (!config.redis_url || !config.database_url) uses.push("the SQLite file ferry.db");
  if (role !== "worker" && !config.admin_token) uses.push("the admin token's hash");
  return uses;
}

/**
 * Start-up's check: when this role keeps something in the data dir, it must be writable, or
 * start-up stops here with one line naming FERRY_DATA_DIR, before any backend is opened.
 */
export function assertDataDirWritable(config: Config, role: "start" | "api" | "worker"): void {
  if (dataDirUses(config, role).length === 0) return;
  try {
    probeDataDir(config.data_dir);
  } catch (err) {
    throw new BackendError(
      `FERRY_DATA_DIR: ${dataDirProblem(config.data_dir, err)}; make it a directory the user Ferry runs as can write, or set FERRY_DATA_DIR to one`,
      { cause: err },
    );
  }
}
