/**
 * Tests that run a system tool (haproxy, psql, systemd-analyze, shellcheck) skip, saying so,
 * where it is not installed. Under CI (`CI=true`) .ci/run installs every one of them, so a
 * missing tool there is a broken CI script, not a reason to skip: it fails instead.
 */
import { spawnSync } from "node:child_process";

/** A skip reason when `tool` is not installed (outside CI), else false. */
export function missingTool(...tools: string[]): string | false {
  const absent = tools.filter((tool) => spawnSync(tool, ["--version"]).error);
  if (absent.length === 0) return false;
  if (process.env.CI) throw new Error(`${absent.join(", ")} not installed although CI=true: .ci/run must install ${absent.length > 1 ? "them" : "it"}`);
  return `${absent.join(", ")} ${absent.length > 1 ? "are" : "is"} not installed`;
}
