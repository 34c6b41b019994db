// The application of the load section: the single-row audited transactions
// of the writes section (workload.ts: begin; audit.set_context; one write;
// commit, as app_user) driven by pgbench at a fixed rate (--rate), with
// every transaction's latency logged (--log). With --rate, pgbench schedules
// each transaction and measures it from its scheduled start, so a writer
// that falls behind shows the delay instead of hiding it.
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import type { BenchServer } from "./server.ts";
import { percentile, round } from "./stats.ts";
import { runPgbench, type FixtureSize } from "./workload.ts";

export interface WriterFigures {
  targetRate: number;
  seconds: number;
  transactions: number;
  tps: number;
  /** tps / targetRate. */
  ofTarget: number;
  failed: number;
  /** From the scheduled start to the commit's answer. */
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Longest wait between a transaction's scheduled and actual start. */
  maxLagMs: number;
  /** WAL of the whole run per writer transaction (load.ts fills it in). */
  walBytesPerTxn?: number;
  /** The PostgreSQL cluster's CPU time of the whole run per writer transaction, embedded server only (load.ts). */
  postgresCpuMicrosPerTxn?: number;
}

export interface WriterOptions {
  rate: number;
  seconds: number;
  /** Connections, like an application's pool: enough that the rate never waits for a free one at normal latency. */
  clients: number;
  /** A folder of its own for the latency logs (emptied first). */
  logDir: string;
}

export interface LoggedTransaction {
  latencyMs: number;
  /** Epoch milliseconds. */
  endMs: number;
}

/**
 * pgbench's per-transaction log: "client_id
 * transaction_no time script_no time_epoch time_us schedule_lag …", times in
 * µs, time_epoch.time_us the transaction's end; a failed or skipped
 * transaction has a word instead of its time.
 */
export async function readTransactionLog(dir: string): Promise<{ transactions: LoggedTransaction[]; maxLagUs: number; failed: number }> {
  const transactions: LoggedTransaction[] = [];
  let maxLagUs = 0;
  let failed = 0;
  for (const file of await readdir(dir)) {
    if (!file.startsWith("tx.")) continue;
    for (const line of (await readFile(`${dir}${file}`, "utf8")).split("\n")) {
      if (!line) continue;
      const f = line.split(" ");
      const us = Number(f[2]);
      if (!Number.isFinite(us)) {
        failed++;
        continue;
      }
      transactions.push({ latencyMs: us / 1000, endMs: Number(f[4]) * 1000 + Number(f[5]) / 1000 });
      const lag = Number(f[6]);
      if (Number.isFinite(lag) && lag > maxLagUs) maxLagUs = lag;
    }
  }
  return { transactions, maxLagUs, failed };
}

async function readLatencyLog(dir: string): Promise<{ latencies: number[]; maxLagUs: number; failed: number }> {
  const { transactions, maxLagUs, failed } = await readTransactionLog(dir);
  return { latencies: transactions.map((t) => t.latencyMs), maxLagUs, failed };
}

export async function runWriter(server: BenchServer, database: string, fixture: FixtureSize, opts: WriterOptions): Promise<WriterFigures> {
  await rm(opts.logDir, { recursive: true, force: true });
  await mkdir(opts.logDir, { recursive: true });
  const r = await runPgbench({
    server, database, clients: opts.clients, seconds: opts.seconds, synchronousCommit: "on", fixture,
    rate: opts.rate, logPrefix: `${opts.logDir}tx`,
  });
  const log = await readLatencyLog(opts.logDir);
  return {
    targetRate: opts.rate,
    seconds: opts.seconds,
    transactions: r.transactions,
    tps: round(r.tps, 1),
    ofTarget: round(r.tps / opts.rate, 3),
    // the summary and the log count the same failures
    failed: Math.max(r.failed, log.failed),
    p50Ms: round(percentile(log.latencies, 50), 2),
    p95Ms: round(percentile(log.latencies, 95), 2),
    p99Ms: round(percentile(log.latencies, 99), 2),
    maxMs: round(log.latencies.reduce((a, b) => Math.max(a, b), 0), 1),
    maxLagMs: round(log.maxLagUs / 1000, 1),
  };
}
