/**
 * The admin token: FERRY_ADMIN_TOKEN when set; otherwise generated on first start, printed
 * once, and kept only as its SHA-256 hash in the data dir (admin-token.sha256).
 */
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "./config.js";
import { hashToken, newAdminToken } from "./api/auth.js";

export interface AdminToken {
  hash: Buffer;
  /** The token itself, only when it was generated just now (to be shown once). */
  generated?: string;
}

export function adminTokenPath(config: Pick<Config, "data_dir">): string {
  return join(config.data_dir, "admin-token.sha256");
}

export function resolveAdminToken(config: Pick<Config, "data_dir" | "admin_token">): AdminToken {
  if (config.admin_token) return { hash: hashToken(config.admin_token) };
  const path = adminTokenPath(config);
  try {
    return { hash: readHash(path) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  mkdirSync(config.data_dir, { recursive: true });
  const token = newAdminToken();
  // Written whole to a temp file, then linked into place: link fails if the file exists, so
  // when two processes start at once on a new data dir one token wins and the other process
  // reads a complete file, never a half-written one.
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, hashToken(token).toString("hex") + "\n", { mode: 0o600 });
  try {
    linkSync(temp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return { hash: readHash(path) };
    throw err;
  } finally {
    rmSync(temp, { force: true });
  }
  return { hash: hashToken(token), generated: token };
}

function readHash(path: string): Buffer {
  const hex = readFileSync(path, "utf8").trim();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new Error(`${path} does not hold a SHA-256 hex digest; delete it to generate a new admin token`);
  }
  return Buffer.from(hex, "hex");
}
