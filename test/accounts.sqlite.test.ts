import { accountsSuite } from "./e2e/accounts.js";

// startPipeline's default: queue and store in one SQLite file in a temp dir.
accountsSuite("SQLite", () => ({}));
