// What the benchmark ran on, recorded beside every result.
import { readFile } from "node:fs/promises";
import os from "node:os";
import pg from "pg";

export interface MachineInfo {
  cores: number;
  memoryGiB: number;
  cpuModel: string;
  os: string;
  node: string;
  postgres: string;
  postgresSettings: Record<string, string>;
  pgbench: string | null;
  loadAverageAtStart: number[];
}

const SETTINGS = [
  "shared_buffers", "work_mem", "maintenance_work_mem", "max_wal_size", "checkpoint_timeout",
  "synchronous_commit", "fsync", "wal_level", "full_page_writes", "jit", "max_parallel_workers_per_gather", "track_commit_timestamp",
];

async function cpuModel(): Promise<string> {
  const fromOs = os.cpus()[0]?.model?.trim();
  if (fromOs) return fromOs;
  try {
    const info = await readFile("/proc/cpuinfo", "utf8");
    return /model name\s*:\s*(.+)/.exec(info)?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

export async function describeMachine(ownerUrl: string, pgbenchVersion: string | null): Promise<MachineInfo> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const version = (await client.query<{ v: string }>("select version() as v")).rows[0]!.v;
    const settings = await client.query<{ name: string; setting: string }>(
      "select name, current_setting(name) as setting from pg_settings where name = any($1) order by name",
      [SETTINGS],
    );
    return {
      cores: os.cpus().length,
      memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
      cpuModel: await cpuModel(),
      os: `${os.type()} ${os.release()}`,
      node: process.version,
      postgres: version,
      postgresSettings: Object.fromEntries(settings.rows.map((r) => [r.name, r.setting])),
      pgbench: pgbenchVersion,
      loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    };
  } finally {
    await client.end();
  }
}
