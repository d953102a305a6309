import { seedWalkthroughs000001 } from "./e2e/seeds-000-001.js";

seedWalkthroughs000001("SQLite", () => ({}));
