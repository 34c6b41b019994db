// Section 1: single-row write transactions as app_user, 4 concurrent
// clients, audited (the capture as configured) against unaudited (the same
// database with the capture triggers disabled, foreign keys on), alternating
// runs, with synchronous commit on and off. Throughput, WAL bytes and server
// CPU per transaction on both sides.
import pg from "pg";
import type { Logger } from "../src/log.ts";
import { clusterChildren, clusterCpuSeconds, settleCluster } from "./server-cpu.ts";
import type { BenchServer } from "./server.ts";
import { median, medianRatio, round } from "./stats.ts";
import { jobsConsumed, resetWorkload, setCaptureMode, walBytesSince, walLsn, type WriteDatabase } from "./write-database.ts";
import { runNodeClients, runPgbench, transactionTypes, type RunResult, type RunSpec } from "./workload.ts";

export interface SideRuns {
  tps: number[];
  walBytesPerTxn: number[];
  cpuMicrosPerTxn: number[];
}

export interface WriteModeResult {
  synchronousCommit: "on" | "off";
  audited: SideRuns;
  unaudited: SideRuns;
  medianTps: { audited: number; unaudited: number };
  /** Median of the per-pair ratios audited / unaudited. */
  throughputRatio: number;
  medianWalBytesPerTxn: { audited: number; unaudited: number };
  medianCpuMicrosPerTxn: { audited: number | null; unaudited: number | null };
}

export interface WritesResult {
  variant: string;
  driver: "pgbench" | "node";
  clients: number;
  secondsPerRun: number;
  pairs: number;
  transactions: { name: string; description: string }[];
  modes: WriteModeResult[];
}

const CLIENTS = 4;

export async function measureWrites(
  server: BenchServer,
  db: WriteDatabase,
  opts: { seconds: number; pairs: number; driver: "pgbench" | "node"; measureCpu: boolean },
  logger: Logger,
): Promise<WritesResult> {
  const owner = new pg.Client({ connectionString: server.url(db.name) });
  await owner.connect();
  const drive = (spec: RunSpec) => (opts.driver === "pgbench" ? runPgbench(spec) : runNodeClients(spec));
  const spec = (synchronousCommit: "on" | "off", seconds: number): RunSpec => ({
    server, database: db.name, clients: CLIENTS, seconds, synchronousCommit, fixture: db.fixture,
  });
  try {
    const oneRun = async (audited: boolean, sc: "on" | "off"): Promise<{ r: RunResult; wal: number; cpu: number | null }> => {
      await setCaptureMode(owner, audited ? "statement" : "off");
      await resetWorkload(owner);
      const lsn = await walLsn(owner);
      const before = opts.measureCpu ? await clusterChildren() : 0;
      const cpu0 = opts.measureCpu ? await clusterCpuSeconds() : null;
      const r = await drive(spec(sc, opts.seconds));
      if (opts.measureCpu) await settleCluster(before);
      const cpu1 = opts.measureCpu ? await clusterCpuSeconds() : null;
      const wal = await walBytesSince(owner, lsn);
      if (r.failed > 0) throw new Error(`${r.failed} transactions failed in a single-row run (${audited ? "audited" : "unaudited"})`);
      const consumed = await jobsConsumed(owner);
      if (consumed > db.fixture.jobs) throw new Error(`the job pool (${db.fixture.jobs}) ran out: raise it in fixtureSize()`);
      return { r, wal: wal / r.transactions, cpu: cpu0 !== null && cpu1 !== null ? ((cpu1 - cpu0) * 1e6) / r.transactions : null };
    };

    // Warm caches, plans and the audit partitions once before measuring.
    await oneRun(true, "off");

    const modes: WriteModeResult[] = [];
    for (const sc of ["on", "off"] as const) {
      const sides = { audited: { tps: [], walBytesPerTxn: [], cpuMicrosPerTxn: [] } as SideRuns, unaudited: { tps: [], walBytesPerTxn: [], cpuMicrosPerTxn: [] } as SideRuns };
      for (let pair = 0; pair < opts.pairs; pair++) {
        const order = pair % 2 === 0 ? [true, false] : [false, true];
        for (const audited of order) {
          const { r, wal, cpu } = await oneRun(audited, sc);
          const side = audited ? sides.audited : sides.unaudited;
          side.tps.push(round(r.tps, 1));
          side.walBytesPerTxn.push(Math.round(wal));
          if (cpu !== null) side.cpuMicrosPerTxn.push(Math.round(cpu));
          logger.info(
            { variant: db.variant, synchronousCommit: sc, pair: pair + 1, side: audited ? "audited" : "unaudited", tps: round(r.tps, 1), walBytesPerTxn: Math.round(wal), cpuMicrosPerTxn: cpu === null ? undefined : Math.round(cpu) },
            "single-row run",
          );
        }
      }
      const cpuMedian = (s: SideRuns) => (s.cpuMicrosPerTxn.length ? Math.round(median(s.cpuMicrosPerTxn)) : null);
      modes.push({
        synchronousCommit: sc,
        audited: sides.audited,
        unaudited: sides.unaudited,
        medianTps: { audited: round(median(sides.audited.tps), 1), unaudited: round(median(sides.unaudited.tps), 1) },
        throughputRatio: round(medianRatio(sides.audited.tps, sides.unaudited.tps), 3),
        medianWalBytesPerTxn: { audited: Math.round(median(sides.audited.walBytesPerTxn)), unaudited: Math.round(median(sides.unaudited.walBytesPerTxn)) },
        medianCpuMicrosPerTxn: { audited: cpuMedian(sides.audited), unaudited: cpuMedian(sides.unaudited) },
      });
    }
    await setCaptureMode(owner, "statement");
    return {
      variant: db.variant,
      driver: opts.driver,
      clients: CLIENTS,
      secondsPerRun: opts.seconds,
      pairs: opts.pairs,
      transactions: transactionTypes(db.fixture).map((t) => ({ name: t.name, description: t.description })),
      modes,
    };
  } finally {
    await owner.end();
  }
}
