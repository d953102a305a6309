/** The browser the browser tests drive: Debian's chromium, or FERRY_CHROMIUM. */
import { accessSync, constants, existsSync } from "node:fs";
import { join } from "node:path";

/** FERRY_CHROMIUM, else the first chromium-like program on PATH. */
export function findChromium(): string | undefined {
  const named = process.env["FERRY_CHROMIUM"];
  if (named) return existsSync(named) ? named : undefined;
  for (const name of ["chromium", "chromium-browser", "google-chrome-stable", "google-chrome"]) {
    for (const dir of (process.env["PATH"] ?? "").split(":").filter(Boolean)) {
      const path = join(dir, name);
      try {
        accessSync(path, constants.X_OK);
        return path;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

export const CHROMIUM = findChromium();
/** .ci/run installs chromium, so in CI a missing browser is a broken setup, not a reason to skip. */
export const SKIP_WITHOUT_CHROMIUM = CHROMIUM ? false : process.env["CI"] ? false : "no chromium binary found: apt-get install chromium, or set FERRY_CHROMIUM (CI installs it)";
