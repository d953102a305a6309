/**
 * The data dir: writable (by trying), the free space on its disk, and the SQLite file's journal
 * mode when the embedded queue or store is used.
 */
import { existsSync, statSync, statfsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import type { Config } from "../config.js";
import { sqlitePath } from "../backends.js";
import { dataDirProblem, dataDirUses, probeDataDir } from "../data-dir.js";
import { fail, ok, skip, warn, type Report } from "./check.js";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/**
 * Why these bounds: each postback on SQLite is a few KiB (its data, its queue entry, its
 * attempts, the WAL before a checkpoint). 1 GiB is hours of a busy day; below it, or below 5% of
 * the disk, there is time to act but not much. At 256 MiB a burst of ingest fills it within
 * minutes, after which every ingest answers 503: fail.
 */
export const DISK_WARN_BYTES = GiB;
export const DISK_WARN_FRACTION = 0.05;
export const DISK_FAIL_BYTES = 256 * MiB;

export function checkDataDir(config: Config, report: Report): void {
  const dir = resolve(config.data_dir);
  // `ferry doctor` asks for the widest role: start, which keeps both the SQLite file (when used)
  // and the admin token's hash there.
  const uses = dataDirUses(config, "start");
  const needed = uses.length > 0;
  const what = needed ? `it holds ${uses.join(" and ")}` : "only profiles are written there with this config";
  let writable = false;
  try {
    const probe = probeDataDir(dir, { cleanup: true });
    writable = true;
    report(ok("data_dir", `${dir} is writable${probe.created ? " (it does not exist yet; start creates it)" : ""}; ${what}`));
  } catch (err) {
    const finding = needed ? fail : warn;
    report(finding("data_dir", `FERRY_DATA_DIR: ${dataDirProblem(dir, err)}; ${what}`, "make it a directory the user Ferry runs as can write (chown it), or set FERRY_DATA_DIR to one"));
  }

  // The disk the dir is (or will be) on: statfs on the nearest part of the path that exists.
  let at = dir;
  while (!(existsSync(at) && statSync(at).isDirectory()) && dirname(at) !== at) at = dirname(at);
  try {
    const fs = statfsSync(at);
    const free = fs.bavail * fs.bsize;
    const total = fs.blocks * fs.bsize;
    const share = total > 0 ? free / total : 1;
    const text = `${formatBytes(free)} free of ${formatBytes(total)} (${(share * 100).toFixed(1)}%) on the disk of ${at}`;
    const fix = "free space on that disk (old logs, CPU profiles in the data dir), grow it, or shorten FERRY_RETENTION";
    if (free < DISK_FAIL_BYTES && needed) report(fail("disk", `${text}: below ${formatBytes(DISK_FAIL_BYTES)}, ingest would soon answer 503`, fix));
    else if (free < DISK_WARN_BYTES || share < DISK_WARN_FRACTION) report(warn("disk", `${text}: below ${formatBytes(DISK_WARN_BYTES)} or 5%`, fix));
    else report(ok("disk", text));
  } catch (err) {
    report(warn("disk", `cannot read the free space of ${at}: ${(err as Error).message}`, "check it with df"));
  }

  checkSqlite(config, writable, report);
}

function checkSqlite(config: Config, writable: boolean, report: Report): void {
  if (config.redis_url && config.database_url) {
    report(skip("sqlite", "not used: the queue is in Redis and the store in Postgres"));
    return;
  }
  const path = resolve(sqlitePath(config));
  const synchronous = `synchronous ${config.sqlite_synchronous.toUpperCase()} (FERRY_SQLITE_SYNCHRONOUS=${config.sqlite_synchronous}: ${config.sqlite_synchronous === "full" ? "survives power loss" : "survives a crash of the process, not a power loss"})`;
  if (!existsSync(path)) {
    report(writable ? ok("sqlite", `${path} does not exist yet; start creates it in WAL mode, ${synchronous}`) : skip("sqlite", `${path} does not exist, and the data dir is not writable`));
    return;
  }
  // Read-only: doctor must not change the file, nor take the write lock a running Ferry needs.
  // journal_mode is kept in the file; synchronous is per connection, so it is the setting's.
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: 3_000 });
    const mode = String(db.pragma("journal_mode", { simple: true }));
    if (mode.toLowerCase() === "wal") report(ok("sqlite", `${path}: journal_mode WAL, ${synchronous}`));
    else report(warn("sqlite", `${path}: journal_mode ${mode}, not WAL: writers block readers`, "start Ferry once (it switches the file to WAL), or run sqlite3 ferry.db 'PRAGMA journal_mode=WAL' while it is stopped"));
  } catch (err) {
    report(fail("sqlite", `${path} cannot be opened: ${(err as Error).message}`, "check that it is a Ferry database and that the user Ferry runs as can read it"));
  } finally {
    db?.close();
  }
}

export function formatBytes(n: number): string {
  if (n >= GiB) return `${(n / GiB).toFixed(1)} GiB`;
  return `${Math.round(n / MiB)} MiB`;
}
