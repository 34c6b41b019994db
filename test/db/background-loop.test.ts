// The background loop of detection, sealing, rollups and verification: a run
// at once, then one per interval (or, with deadline pacing, early enough that
// what arrived just after a run began waits no longer than the interval),
// never two at once; a failed run is logged and the next one goes on; stop()
// waits for the run in progress.
import { describe, expect, it } from "vitest";
import { nextStartDelay, startBackgroundLoop } from "../../src/db/background-loop.ts";
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

  it("deadline pacing: the next run starts the interval less twice the recent runs' longest duration after the last one started, at least a quarter interval apart", () => {
    // idle rounds: about the interval
    expect(nextStartDelay(1000, [2], 2)).toBe(1000 - 4 - 2);
    // rounds of up to 200 ms: 600 ms start to start, so what came just after a start is counted by 800 ms later, 1,000 if the next round takes twice as long
    expect(nextStartDelay(1000, [120, 200, 150], 150)).toBe(1000 - 400 - 150);
    // one slow round among the recent ones keeps the margin until it leaves them
    expect(nextStartDelay(1000, [300, 100], 100)).toBe(400 - 100);
    // slower than the deadline allows: a quarter interval apart, never a spin
    expect(nextStartDelay(1000, [600], 600)).toBe(0);
    expect(nextStartDelay(1000, [600], 100)).toBe(150);
  });

  it("deadline pacing starts slow runs sooner than the interval, never two at once, and stop() ends it", async () => {
    const starts: number[] = [];
    let running = 0;
    let overlapped = false;
    const loop = startBackgroundLoop({
      intervalMs: 400,
      pacing: "deadline",
      log: createLogger("silent"),
      failure: "failed",
      run: async () => {
        starts.push(performance.now());
        running++;
        if (running > 1) overlapped = true;
        await sleep(150);
        running--;
        return starts.length;
      },
    });
    expect(await loop.firstRun).toBe(1);
    await sleep(1_500);
    await loop.stop();
    const runs = starts.length;
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    // max(100, 400 − 2 × 150) = 100 ms apart; a fixed rate would be 400
    expect(gaps.length).toBeGreaterThanOrEqual(3);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(100 - 5); // never closer than a quarter interval
    expect([...gaps].sort((a, b) => a - b)[Math.floor(gaps.length / 2)]!).toBeLessThan(400);
    expect(overlapped).toBe(false);
    await sleep(500);
    expect(starts.length).toBe(runs); // nothing after stop()
  });
});
