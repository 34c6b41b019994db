// The page benchmark runs in a real browser against the real server, with
// the test suite's database set-up; it is a benchmark, not part of npm test.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    root: new URL("../..", import.meta.url).pathname,
    include: ["bench/page/*.bench-test.ts"],
    globalSetup: ["./test/global-setup.ts"],
    pool: "forks",
    testTimeout: 600_000,
    hookTimeout: 1_800_000,
  },
});
