// Crash without loss, the short form (npm run soak is the long one): four
// writing clients, two hard kills of the server at random moments, then every
// transaction's change and entries are checked (support/crash-harness.ts).
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const script = fileURLToPath(new URL("./crash-run.ts", import.meta.url));
// A fixed seed in CI (the same workload and crash moments); CRASH_SEED to vary.
const seed = process.env.CRASH_SEED ?? "20261130";

interface CrashResult {
  ok: boolean;
  crashes: number;
  transactions: { committed: number; inDoubt: number; failed: number };
  inDoubtResolved: { applied: number; notApplied: number };
  entriesChecked: number;
  problems: string[];
  seconds: number;
}

async function crashRun(args: string[]): Promise<CrashResult> {
  const failed = (why: string, out: { stdout?: string; stderr?: string }) =>
    new Error(`crash-run ${why}\n--- stdout\n${(out.stdout ?? "").slice(-4000)}\n--- stderr\n${(out.stderr ?? "").slice(-8000)}`);
  const out = await run(process.execPath, [script, ...args, "--seed", seed], {
    env: { ...process.env, LOG_LEVEL: "warn" },
    timeout: 110_000,
    maxBuffer: 16 * 1024 * 1024,
  }).catch((err: { stdout?: string; stderr?: string; code?: number; message: string }) => {
    // exit 1 with a result line: the checks found problems (returned to the
    // test); anything else (a crash of the run itself) fails with its output
    if (err.code === 1) return { stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
    throw failed(`failed: ${err.message}`, err);
  });
  const last = out.stdout.trim().split("\n").at(-1) ?? "";
  let result: Partial<CrashResult> | null = null;
  try {
    result = JSON.parse(last) as Partial<CrashResult>;
  } catch {
    result = null;
  }
  if (!result || !Array.isArray(result.problems)) throw failed("printed no result line", out);
  return result as CrashResult;
}

describe("crash without loss", () => {
  // It kills its own embedded cluster, never a TEST_DATABASE_URL server: on
  // such a run (CI's PostgreSQL 15 pass) the embedded pass has run it.
  const skip = process.env.TEST_DATABASE_URL?.trim() ? "runs on its own embedded cluster, never on TEST_DATABASE_URL" : null;

  it("keeps every committed transaction's change and entries across two hard kills, and tears none", async (t) => {
    if (skip) t.skip(skip);
    const result = await crashRun(["--clients", "4", "--crashes", "2", "--seconds", "12"]);
    // The figures of this run, for the record (the closing note quotes them).
    console.info(`crash test: ${JSON.stringify({ crashes: result.crashes, transactions: result.transactions, inDoubtResolved: result.inDoubtResolved, entriesChecked: result.entriesChecked, seconds: result.seconds })}`);
    expect(result.problems).toEqual([]);
    expect(result.crashes).toBe(2);
    expect(result.transactions.committed).toBeGreaterThan(50);
    expect(result.entriesChecked).toBeGreaterThan(1000);
    expect(result.ok).toBe(true);
  }, 120_000);

  it("its checks catch lost commits (the same run with synchronous_commit off fails them)", async (t) => {
    if (skip) t.skip(skip);
    const result = await crashRun(["--clients", "4", "--crashes", "2", "--seconds", "8", "--unsafe-async-commit"]);
    expect(result.ok).toBe(false);
    expect(result.problems.some((p) => /committed but/.test(p))).toBe(true);
  }, 120_000);
});
