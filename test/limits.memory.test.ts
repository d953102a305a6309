/** The in-process limit store (the embedded default) against the shared conformance suite. */
import { MemoryLimitStore } from "../src/limits/memory.js";
import { limitsConformance } from "./conformance/limits.js";

limitsConformance("memory", async () => {
  const store = new MemoryLimitStore();
  // One process: another worker thread of it would share this very store.
  return { store, peer: async () => store, close: () => store.close() };
});
