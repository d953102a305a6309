import { pipelineSuite } from "./e2e/pipeline.js";

// startPipeline's default: queue and store in one SQLite file in a temp dir.
pipelineSuite("SQLite", () => ({}));
