// CPU time consumed by the whole PostgreSQL cluster (postmaster, its live
// children and the children it has reaped), read from /proc. Throughput on a
// shared 2-core machine moves with whatever else runs; the server's CPU time
// per transaction is a steadier second witness. Only for the embedded server.
import { readFile, readdir } from "node:fs/promises";
import { workDir } from "./server.ts";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** The fields of /proc/PID/stat after the command name (state first), or null when the process is gone. */
export async function statFields(pid: number | "self"): Promise<string[] | null> {
  try {
    const raw = await readFile(`/proc/${pid}/stat`, "utf8");
    // the command name is in parentheses and may contain spaces
    return raw.slice(raw.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

async function postmasterPid(): Promise<number | null> {
  try {
    const first = (await readFile(`${workDir}cluster/pg/postmaster.pid`, "utf8")).split("\n")[0];
    const pid = Number(first);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

async function children(pm: number): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === pm) continue;
    const f = await statFields(pid);
    if (f && Number(f[1]) === pm) out.push(pid);
  }
  return out;
}

/**
 * Waits (at most 3 s) until the postmaster has no more children than
 * `count`: the backends of a finished run have exited and been reaped, so
 * that their CPU time has moved into the postmaster's children's time.
 */
export async function settleCluster(count: number): Promise<void> {
  const pm = await postmasterPid();
  if (pm === null) return;
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && (await children(pm)).length > count) await new Promise((r) => setTimeout(r, 25));
  await new Promise((r) => setTimeout(r, 50));
}

export async function clusterChildren(): Promise<number> {
  const pm = await postmasterPid();
  return pm === null ? 0 : (await children(pm)).length;
}

/** Seconds of CPU used by the cluster so far, or null when it cannot be read. */
export async function clusterCpuSeconds(): Promise<number | null> {
  const pm = await postmasterPid();
  if (pm === null) return null;
  const own = await statFields(pm);
  if (!own) return null;
  // after ")": state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of await readdir("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === pm) continue;
    const f = await statFields(pid);
    if (f && Number(f[1]) === pm) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / TICKS_PER_SECOND;
}
