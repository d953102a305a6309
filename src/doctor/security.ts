/**
 * What guards Ferry: the SSRF guard's mode (where postbacks may go) and the admin token. No
 * token, password or hash is ever printed: only where it comes from and its length.
 */
import { existsSync, readFileSync } from "node:fs";
import type { Config } from "../config.js";
import { redact } from "../backend-error.js";
import { adminTokenPath } from "../admin-token.js";
import { ok, warn, fail, type Report } from "./check.js";

/**
 * Shorter than this warns (config refuses below 16): a generated token has 32 random bytes; a
 * chosen one of 32 characters or more leaves guessing hopeless even if it is only letters.
 */
export const RECOMMENDED_TOKEN_LENGTH = 32;

export function checkSsrf(config: Config, report: Report): void {
  const allowlist = config.destination_allowlist ? `; allowlisted although private: ${config.destination_allowlist}` : "";
  const proxy = config.proxy_url ? `; every postback goes through the proxy ${redact(config.proxy_url)}` : "";
  if (config.allow_private_destinations) {
    report(warn("ssrf", `FERRY_ALLOW_PRIVATE_DESTINATIONS=true: postbacks may go to loopback, private networks and cloud metadata (169.254.169.254)${proxy}`, "unset it and list the internal partners you trust in FERRY_DESTINATION_ALLOWLIST"));
  } else {
    report(ok("ssrf", `private destinations refused (destination_refused)${allowlist}${proxy}`));
  }
}

export function checkAdminToken(config: Config, report: Report): void {
  if (config.admin_token) {
    const source = process.env["FERRY_ADMIN_TOKEN"] ? "FERRY_ADMIN_TOKEN" : `admin_token in ${process.env["FERRY_CONFIG"]}`;
    const length = config.admin_token.length;
    if (length < RECOMMENDED_TOKEN_LENGTH) report(warn("admin_token", `set in ${source}, ${length} characters: shorter than the ${RECOMMENDED_TOKEN_LENGTH} recommended`, `make it longer, e.g. openssl rand -base64 32`));
    else report(ok("admin_token", `set in ${source} (${length} characters)`));
    return;
  }
  const path = adminTokenPath(config);
  if (!existsSync(path)) {
    report(warn("admin_token", `neither FERRY_ADMIN_TOKEN nor ${path} is there: the first ferry start or ferry api generates a token and prints it once`, "keep the token that first start prints, or set FERRY_ADMIN_TOKEN to your own"));
    return;
  }
  try {
    const hex = readFileSync(path, "utf8").trim();
    if (/^[0-9a-f]{64}$/.test(hex)) report(ok("admin_token", `generated earlier; its hash is in ${path}`));
    else report(fail("admin_token", `${path} does not hold a SHA-256 hex digest: start-up would refuse it`, "delete it to have a new token generated (and printed once) at the next start, or set FERRY_ADMIN_TOKEN"));
  } catch (err) {
    report(fail("admin_token", `cannot read ${path}: ${(err as Error).message}`, "let the user Ferry runs as read it"));
  }
}
