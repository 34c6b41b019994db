// How many random cases the isolation properties run, and from which seed.
// CI runs a few meaningful cases from a fixed seed (the same ones every
// time, so a red run is reproducible); more are a variable away:
//
//   F="test/reliability/api-isolation test/reliability/sql-isolation"
//   ISOLATION_RUNS=500 npx vitest run $F                        # cases per property
//   ISOLATION_SEED=random ISOLATION_RUNS=300 npx vitest run $F  # a new seed, printed per file
//   ISOLATION_SEED=123 ISOLATION_PATH="7:1:0" npx vitest run test/reliability/api-isolation -t "every export"
//                                                                # replay one failure (seed and path from its report)
//
// The seed also decides the data set (tenants, accounts, users, writes), so
// a failure's seed and path replay it exactly.
import fc, { type Parameters as CheckParameters } from "fast-check";

const FIXED_SEED = 20261130;

function readSeed(): number {
  const raw = process.env.ISOLATION_SEED?.trim();
  if (!raw) return FIXED_SEED;
  if (raw === "random") return Math.floor(Math.random() * 0x7fffffff);
  const seed = Number(raw);
  if (!Number.isSafeInteger(seed)) throw new Error(`ISOLATION_SEED must be an integer or "random", got "${raw}"`);
  return seed;
}

function readRuns(): number | null {
  const raw = process.env.ISOLATION_RUNS?.trim();
  if (!raw) return null;
  const runs = Number(raw);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`ISOLATION_RUNS must be a positive integer, got "${raw}"`);
  return runs;
}

export const SEED = readSeed();
const RUNS = readRuns();
const PATH = process.env.ISOLATION_PATH?.trim() || undefined;

if (process.env.ISOLATION_SEED || RUNS !== null) {
  // Only when asked for: CI's output stays quiet, an exploratory run says what it replays.
  console.info(`isolation properties: seed ${SEED}, ${RUNS ?? "default"} runs per property${PATH ? `, path ${PATH}` : ""}`);
}

/** Cases of a property: its CI default unless ISOLATION_RUNS says otherwise. */
export function runsOf(ciDefault: number): number {
  return RUNS ?? ciDefault;
}

/** fast-check parameters of a property with `ciDefault` runs in CI. */
export function checkParameters<T>(ciDefault: number): CheckParameters<T> {
  return { seed: SEED, numRuns: runsOf(ciDefault), ...(PATH ? { path: PATH } : {}) };
}

/**
 * A test's time limit for `ciDefault` runs of about `msPerRun` each: vitest's
 * 60 s covers CI's few runs; ISOLATION_RUNS=5000 must not be cut short.
 */
export function timeLimitOf(ciDefault: number, msPerRun: number): number {
  return Math.max(60_000, runsOf(ciDefault) * msPerRun * 4);
}

/** `arbitrary` in about `percent` % of the cases, else null (fc.option counts the other way round). */
export function sometimes<T>(arbitrary: fc.Arbitrary<T>, percent: number): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: 100 - percent, arbitrary: fc.constant(null) }, { weight: percent, arbitrary });
}
