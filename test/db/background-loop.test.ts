// The background loop of detection, sealing and verification: a run at once,
// then one per interval, never two at once; a failed run is logged and the
// next one goes on; stop() waits for the run in progress.
import { describe, expect, it } from "vitest";
import { startBackgroundLoop } from "../../src/db/background-loop.ts";
import { createLogger } from "../../src/log.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("startBackgroundLoop", () => {
  it("runs at once, then every interval, one run at a time, and stop() waits for the run in progress", async () => {
    let running = 0;
    let overlapped = false;
    let runs = 0;
    const loop = startBackgroundLoop({
      intervalMs: 20,
      log: createLogger("silent"),
      failure: "failed",
      run: async () => {
        running++;
        if (running > 1) overlapped = true;
        await sleep(50); // longer than the interval
        running--;
        return ++runs;
      },
    });
    expect(await loop.firstRun).toBe(1);
    await sleep(200);
    await loop.stop();
    const after = runs;
    expect(after).toBeGreaterThanOrEqual(3);
    expect(overlapped).toBe(false);
    expect(running).toBe(0);
    await sleep(100);
    expect(runs).toBe(after); // nothing after stop()
  });

  it("logs a failed run and goes on; waits for `after` before the first run; closes with onStop", async () => {
    const order: string[] = [];
    const errors: string[] = [];
    const log = createLogger("silent");
    log.error = ((obj: { error: string }, msg: string) => void errors.push(`${msg}: ${obj.error}`)) as unknown as typeof log.error;
    let release!: () => void;
    const after = new Promise<void>((resolve) => (release = resolve));
    let n = 0;
    const loop = startBackgroundLoop({
      intervalMs: 10_000,
      log,
      failure: "round failed",
      after,
      run: async () => {
        n++;
        order.push(`run ${n}`);
        if (n === 1) throw new Error("boom");
        return n;
      },
      onStop: async () => {
        order.push("closed");
      },
    });
    await sleep(30);
    expect(order).toEqual([]);
    release();
    expect(await loop.firstRun).toBeNull();
    expect(errors).toEqual(["round failed: boom"]);
    expect(await loop.runNow()).toBe(2);
    await loop.stop();
    expect(order).toEqual(["run 1", "run 2", "closed"]);
  });
});
