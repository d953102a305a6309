/**
 * The seeded fuzz suite (test/support/fuzz.ts) on the embedded backend: SQLite files in a temp
 * dir. FERRY_FUZZ_SEED replays a run; FERRY_FUZZ_CASES changes its size.
 */
import { fuzzSuite } from "./support/fuzz.js";

fuzzSuite("SQLite", () => ({}));
