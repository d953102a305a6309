/** The CLI's way into the config: a bad setting is printed, naming it, instead of thrown. */
import { ConfigError, loadConfig, type Config } from "../config.js";

/** The config, or undefined once a configuration error has been printed. */
export function readConfig(): Config | undefined {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ferry: configuration error:\n${err.message}\n`);
      return undefined;
    }
    throw err;
  }
}
