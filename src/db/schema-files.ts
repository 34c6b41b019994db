// The committed snapshot of the schema (db/schema/*.sql): written by
// `npm run schema:dump`, compared by test/db/schema-snapshot.test.ts.
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Snapshot } from "./schema-snapshot.ts";

export const SCHEMA_DIR = fileURLToPath(new URL("../../db/schema/", import.meta.url));
export const DUMP_COMMAND = "npm run schema:dump";

/** Writes the snapshot's files and removes files of db/schema/ it no longer has. */
export async function writeSnapshot(snapshot: Snapshot, dir = SCHEMA_DIR): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  for (const existing of await readdir(dir)) {
    if (existing.endsWith(".sql") && !snapshot.files.has(existing)) await rm(path.join(dir, existing));
  }
  const written: string[] = [];
  for (const [file, content] of snapshot.files) {
    const target = path.join(dir, file);
    const before = await readFile(target, "utf8").catch(() => null);
    if (before !== content) {
      await writeFile(target, content);
      written.push(file);
    }
  }
  return written;
}

export interface SnapshotDifference {
  file: string;
  problem: "missing" | "stale" | "unexpected";
  /** The first differing line (1-based) and both versions of it, for stale files. */
  line?: number;
  committed?: string;
  generated?: string;
}

/** How the committed files differ from the snapshot; empty when they match. */
export async function compareSnapshot(snapshot: Snapshot, dir = SCHEMA_DIR): Promise<SnapshotDifference[]> {
  const differences: SnapshotDifference[] = [];
  const present = await readdir(dir).catch(() => [] as string[]);
  for (const file of present) {
    if (file.endsWith(".sql") && !snapshot.files.has(file)) differences.push({ file, problem: "unexpected" });
  }
  for (const [file, generated] of snapshot.files) {
    const committed = await readFile(path.join(dir, file), "utf8").catch(() => null);
    if (committed === null) {
      differences.push({ file, problem: "missing" });
    } else if (committed !== generated) {
      const a = committed.split("\n");
      const b = generated.split("\n");
      let i = 0;
      while (i < Math.max(a.length, b.length) && a[i] === b[i]) i++;
      differences.push({ file, problem: "stale", line: i + 1, committed: a[i] ?? "(end of file)", generated: b[i] ?? "(end of file)" });
    }
  }
  return differences;
}

export function describeDifferences(differences: readonly SnapshotDifference[]): string {
  const lines = differences.map((d) =>
    d.problem === "stale"
      ? `db/schema/${d.file} differs from the migrations at line ${d.line}:\n  committed: ${d.committed}\n  generated: ${d.generated}`
      : `db/schema/${d.file} is ${d.problem === "missing" ? "missing" : "not produced by the migrations any more"}`);
  return `${lines.join("\n")}\nThe committed schema snapshot is out of date: run \`${DUMP_COMMAND}\` and commit db/schema/.`;
}
