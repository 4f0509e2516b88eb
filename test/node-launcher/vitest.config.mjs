// The Vitest suite of the Node launcher: `npx vitest run --config test/node-launcher/vitest.config.mjs`.
// Its file is not named *.test.* so that `bun test` does not pick it up; scripts/test.ts runs it under Node.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/node-launcher/vitest-suite.mjs"],
    globalSetup: ["test/node-launcher/vitest-global-setup.mjs"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
