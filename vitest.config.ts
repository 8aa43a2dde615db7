import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Integration tests share one broker and one Redis; files run one at a time on 2 cores.
    fileParallelism: false,
    pool: "forks",
  },
});
