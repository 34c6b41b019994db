// Section 1: single-row write transactions as app_user, 4 concurrent
// clients, audited (the capture as configured) against unaudited (the same
// database with the capture triggers disabled, foreign keys on) and against
// the floor (bench/sql/floor-trigger.sql: one entry of the same shape into
// the same audit.log, nothing else), alternating runs in rotating order on
// the same database, with synchronous commit on and off. Throughput, WAL
// bytes and server CPU per transaction on every side. The target compares
// the capture with the floor of the same alternation.
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

type Side = "audited" | "unaudited" | "floor";

export interface WriteModeResult {
  synchronousCommit: "on" | "off";
  audited: SideRuns;
  unaudited: SideRuns;
  /** Absent for peers (the floor is measured beside the product's capture). */
  floor: SideRuns | null;
  medianTps: { audited: number; unaudited: number; floor: number | null };
  /** Median of the per-round ratios audited / unaudited. */
  throughputRatio: number;
  /** Median of the per-round ratios floor / unaudited. */
  floorRatio: number | null;
  /** Median of the per-round ratios audited / floor: the capture's ratio as a share of the floor's. */
  auditedToFloor: number | null;
  medianWalBytesPerTxn: { audited: number; unaudited: number; floor: number | null };
  medianCpuMicrosPerTxn: { audited: number | null; unaudited: number | null; floor: number | null };
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
  opts: { seconds: number; pairs: number; driver: "pgbench" | "node"; measureCpu: boolean; floor: boolean },
  logger: Logger,
): Promise<WritesResult> {
  const owner = new pg.Client({ connectionString: server.url(db.name) });
  await owner.connect();
  const drive = (spec: RunSpec) => (opts.driver === "pgbench" ? runPgbench(spec) : runNodeClients(spec));
  const spec = (synchronousCommit: "on" | "off", seconds: number): RunSpec => ({
    server, database: db.name, clients: CLIENTS, seconds, synchronousCommit, fixture: db.fixture,
  });
  try {
    const oneRun = async (side: Side, sc: "on" | "off"): Promise<{ r: RunResult; wal: number; cpu: number | null }> => {
      await setCaptureMode(owner, side === "audited" ? "statement" : side === "floor" ? "floor" : "off");
      await resetWorkload(owner);
      const lsn = await walLsn(owner);
      const before = opts.measureCpu ? await clusterChildren() : 0;
      const cpu0 = opts.measureCpu ? await clusterCpuSeconds() : null;
      const r = await drive(spec(sc, opts.seconds));
      if (opts.measureCpu) await settleCluster(before);
      const cpu1 = opts.measureCpu ? await clusterCpuSeconds() : null;
      const wal = await walBytesSince(owner, lsn);
      if (r.failed > 0) throw new Error(`${r.failed} transactions failed in a single-row run (${side})`);
      const consumed = await jobsConsumed(owner);
      if (consumed > db.fixture.jobs) throw new Error(`the job pool (${db.fixture.jobs}) ran out: raise it in fixtureSize()`);
      return { r, wal: wal / r.transactions, cpu: cpu0 !== null && cpu1 !== null ? ((cpu1 - cpu0) * 1e6) / r.transactions : null };
    };

    // Warm caches, plans and the audit partitions once before measuring.
    await oneRun("audited", "off");
    if (opts.floor) await oneRun("floor", "off");

    const modes: WriteModeResult[] = [];
    const sideNames: Side[] = opts.floor ? ["audited", "unaudited", "floor"] : ["audited", "unaudited"];
    const empty = (): SideRuns => ({ tps: [], walBytesPerTxn: [], cpuMicrosPerTxn: [] });
    for (const sc of ["on", "off"] as const) {
      const sides: Record<Side, SideRuns> = { audited: empty(), unaudited: empty(), floor: empty() };
      for (let pair = 0; pair < opts.pairs; pair++) {
        // each round starts with another side, so that drift spreads over all of them
        const order = sideNames.map((_, i) => sideNames[(i + pair) % sideNames.length]!);
        for (const side of order) {
          const { r, wal, cpu } = await oneRun(side, sc);
          sides[side].tps.push(round(r.tps, 1));
          sides[side].walBytesPerTxn.push(Math.round(wal));
          if (cpu !== null) sides[side].cpuMicrosPerTxn.push(Math.round(cpu));
          logger.info(
            { variant: db.variant, synchronousCommit: sc, pair: pair + 1, side, tps: round(r.tps, 1), walBytesPerTxn: Math.round(wal), cpuMicrosPerTxn: cpu === null ? undefined : Math.round(cpu) },
            "single-row run",
          );
        }
      }
      const cpuMedian = (s: SideRuns) => (s.cpuMicrosPerTxn.length ? Math.round(median(s.cpuMicrosPerTxn)) : null);
      const floor = opts.floor ? sides.floor : null;
      modes.push({
        synchronousCommit: sc,
        audited: sides.audited,
        unaudited: sides.unaudited,
        floor,
        medianTps: { audited: round(median(sides.audited.tps), 1), unaudited: round(median(sides.unaudited.tps), 1), floor: floor ? round(median(floor.tps), 1) : null },
        throughputRatio: round(medianRatio(sides.audited.tps, sides.unaudited.tps), 3),
        floorRatio: floor ? round(medianRatio(floor.tps, sides.unaudited.tps), 3) : null,
        auditedToFloor: floor ? round(medianRatio(sides.audited.tps, floor.tps), 3) : null,
        medianWalBytesPerTxn: {
          audited: Math.round(median(sides.audited.walBytesPerTxn)), unaudited: Math.round(median(sides.unaudited.walBytesPerTxn)),
          floor: floor ? Math.round(median(floor.walBytesPerTxn)) : null,
        },
        medianCpuMicrosPerTxn: { audited: cpuMedian(sides.audited), unaudited: cpuMedian(sides.unaudited), floor: floor ? cpuMedian(floor) : null },
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
