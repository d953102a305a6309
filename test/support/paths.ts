import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: the nearest folder above the compiled tests that holds docs/ and package.json. */
export const ROOT: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!(existsSync(join(dir, "package.json")) && existsSync(join(dir, "docs")))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the repository root above " + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
})();

export function repoPath(...parts: string[]): string {
  return join(ROOT, ...parts);
}
