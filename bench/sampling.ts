// Latency sampling of one query in one scope, shared by the read sections
// (SQL in reads.ts, GraphQL over HTTP in http.ts): warm-up runs, then
// samples until the requested count, stopping early at a time budget so that
// a pathologically slow query cannot stall the whole bench, but never with
// fewer than a minimum that keeps a p95 meaningful.
import { percentile, round } from "./stats.ts";

/** Time budget of one query and scope, and the fewest samples taken regardless of it. */
export const SAMPLE_BUDGET_MS = 25_000;
export const MIN_SAMPLES = 10;

export interface LatencyFigures {
  samples: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
}

export interface SamplingOptions {
  /** Untimed runs first (e.g. one per scope, so each scope's plan and pages are warm). */
  warmUps: number;
  /** Samples wanted; fewer (never under MIN_SAMPLES) when SAMPLE_BUDGET_MS passes first. */
  samples: number;
}

/**
 * Runs `sample(i)` for i = 0, 1, … and summarises the milliseconds each call
 * returns. The caller times what it means to measure: a query without its
 * transaction set-up (`timed`), or a whole HTTP request to its response's
 * last byte (graphql-client.ts).
 */
export async function sampleLatency(opts: SamplingOptions, sample: (i: number) => Promise<number>): Promise<LatencyFigures> {
  for (let i = 0; i < opts.warmUps; i++) await sample(i);
  const times: number[] = [];
  const started = performance.now();
  for (let i = 0; i < opts.samples; i++) {
    times.push(await sample(i));
    if (i + 1 >= MIN_SAMPLES && performance.now() - started > SAMPLE_BUDGET_MS) break;
  }
  return {
    samples: times.length,
    p50Ms: round(percentile(times, 50), 2),
    p95Ms: round(percentile(times, 95), 2),
    maxMs: round(Math.max(...times), 2),
  };
}

/** Milliseconds `work` takes, measured at the client. */
export async function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await work();
  return performance.now() - t0;
}
