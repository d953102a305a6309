import { eventsSuite } from "./e2e/events.js";

eventsSuite("SQLite", () => ({}));
