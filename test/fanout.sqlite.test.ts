import { fanoutSuite } from "./e2e/fanout.js";

fanoutSuite("SQLite", () => ({}));
