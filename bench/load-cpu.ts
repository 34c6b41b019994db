// Where the two cores went during a run of the load section: the machine's
// busy time (/proc/stat, whatever ran), the PostgreSQL cluster's (embedded
// server only), the API process's, pgbench's (a child of this process, its
// time counted once it has exited) and the load generator's (this process).
// In cores: CPU seconds per second of the run.
import { readFile } from "node:fs/promises";
import { clusterChildren, clusterCpuSeconds, settleCluster, statFields } from "./server-cpu.ts";
import { round } from "./stats.ts";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface CpuShares {
  /** Length of the count. */
  seconds: number;
  /** Busy cores of the whole machine (all processes, ours and others'). */
  machine: number;
  postgres: number | null;
  api: number | null;
  pgbench: number | null;
  loadGenerator: number;
}

interface Sample {
  at: number;
  machineBusy: number | null;
  postgres: number | null;
  api: number | null;
  children: number | null;
  self: number;
}

/** Busy ticks of all cores: everything but idle and iowait. */
async function machineBusySeconds(): Promise<number | null> {
  try {
    const first = (await readFile("/proc/stat", "utf8")).split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = first.reduce((a, b) => a + b, 0);
    return (total - first[3]! - (first[4] ?? 0)) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** utime + stime (own: true) or cutime + cstime (reaped children) of a process, in seconds. */
async function processSeconds(pid: number | "self", own: boolean): Promise<number | null> {
  const f = await statFields(pid);
  if (!f) return null;
  // after ")": state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14)
  return (own ? Number(f[11]) + Number(f[12]) : Number(f[13]) + Number(f[14])) / TICKS_PER_SECOND;
}

async function sample(apiPid: number | null, embedded: boolean): Promise<Sample> {
  const cpu = process.cpuUsage();
  return {
    at: performance.now(),
    machineBusy: await machineBusySeconds(),
    postgres: embedded ? await clusterCpuSeconds() : null,
    api: apiPid === null ? null : await processSeconds(apiPid, true),
    children: await processSeconds("self", false),
    self: (cpu.user + cpu.system) / 1e6,
  };
}

/** Starts counting; the returned function ends the count (after the run's backends are reaped) and gives the shares. */
export async function countCpu(apiPid: number | null, embedded: boolean): Promise<() => Promise<CpuShares>> {
  const backends = embedded ? await clusterChildren() : 0;
  const start = await sample(apiPid, embedded);
  return async () => {
    // pgbench's backends exit with it: their time joins the postmaster's once reaped.
    if (embedded) await settleCluster(backends);
    const end = await sample(apiPid, embedded);
    const seconds = (end.at - start.at) / 1000;
    const share = (a: number | null, b: number | null) => (a === null || b === null ? null : round((b - a) / seconds, 2));
    return {
      seconds: round(seconds, 1),
      machine: share(start.machineBusy, end.machineBusy) ?? Number.NaN,
      postgres: share(start.postgres, end.postgres),
      api: share(start.api, end.api),
      pgbench: share(start.children, end.children),
      loadGenerator: round((end.self - start.self) / seconds, 2),
    };
  };
}
