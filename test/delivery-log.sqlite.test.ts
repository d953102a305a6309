import { deliveryLogSuite } from "./e2e/delivery-log.js";

deliveryLogSuite("SQLite", () => ({}));
