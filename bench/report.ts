// The results: results.json (everything), results.md (the tables) and the
// same tables on stdout.
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { BulkResult } from "./bulk.ts";
import type { EquivalenceResult } from "./equivalence.ts";
import type { HttpResult } from "./http.ts";
import { renderDetect, type DetectResult } from "./detect.ts";
import { renderSeal, type SealResult } from "./seal.ts";
import { LOAD_TARGETS, type LoadResult, type LoadStep } from "./load.ts";
import type { CpuShares } from "./load-cpu.ts";
import type { WriterFigures } from "./load-writer.ts";
import type { MachineInfo } from "./machine.ts";
import type { PartitionsResult } from "./partitions.ts";
import type { ReadsResult } from "./reads.ts";
import type { StorageResult } from "./storage.ts";
import type { WritesResult } from "./writes.ts";
import { peerOf } from "./write-database.ts";

export interface BenchResults {
  mode: "quick" | "full";
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  machine: MachineInfo;
  options: Record<string, unknown>;
  writes: WritesResult[];
  bulk: BulkResult[];
  storage: StorageResult[];
  partitions: PartitionsResult[];
  equivalence: EquivalenceResult[];
  reads: (ReadsResult & { dataset: { reused: boolean; generationSeconds: number | null; heapBytes: number; indexBytes: number; partitions: number } })[];
  http: HttpResult | { skipped: string } | null;
  load: LoadResult | { skipped: string } | null;
  /** Absent from results written before the section existed. */
  detect?: DetectResult | null;
  /** Absent from results written before the section existed. */
  seal?: SealResult | null;
  notes: string[];
}

const T = {
  /** The capture's single-row ratio as a share of the floor's, measured in the same alternation. */
  singleRowOfFloor: 0.95,
  bulkFloor: 1.25,
  bulkInsertRaw: 2.5,
  bulkUpdateRaw: 3.0,
};

const ok = (pass: boolean) => (pass ? "yes" : "**no**");
const n = (v: number | null | undefined, digits = 0) => (v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const mb = (bytes: number) => `${(bytes / 1024 ** 2).toLocaleString("en-US", { maximumFractionDigits: 0 })} MB`;

function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

export function renderMarkdown(r: BenchResults): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`# Audit Trail benchmark results (${r.mode} mode)`);
  out.push("");
  out.push(`Run ${r.startedAt} – ${r.finishedAt} (${Math.round(r.durationSeconds / 60)} min) by \`npm run bench${r.mode === "quick" ? " -- --quick" : ""}\`.`);
  out.push("");
  out.push(table(["machine", ""], [
    ["CPU", `${m.cores} cores, ${m.cpuModel}`],
    ["memory", `${m.memoryGiB} GiB`],
    ["OS / Node", `${m.os} / ${m.node}`],
    ["PostgreSQL", m.postgres.split(" on ")[0] ?? m.postgres],
    ["server settings", Object.entries(m.postgresSettings).map(([k, v]) => `${k}=${v}`).join(", ")],
    ["driver", r.options.driver === "pgbench" && m.pgbench ? m.pgbench : `node-postgres${m.pgbench ? "" : " (pgbench not used or not installed)"}`],
    ["load average at start", m.loadAverageAtStart.join(" / ")],
  ]));
  out.push("");
  out.push("Every ratio compares runs of the same bench run on the same database, alternating sides; figures are medians. The machine is shared with other work: expect about ±10 % noise on throughput; server CPU per transaction is steadier.");

  if (r.equivalence.length) {
    out.push("", r.equivalence.map((e) => `Capture configuration "${e.variant}" records ${e.identical ? "exactly the same" : "**different**"} entries as the migrated one (${e.entries} entries of bench/sql/equivalence-workload.sql).`).join(" "));
  }

  if (r.writes.length) {
    out.push("", "## 1. Single-row write transactions, 4 clients", "");
    out.push("Each transaction as `app_user`: `begin; select audit.set_context(…); <write>; commit` — a random mix of a process update, a job's terminal update, a membership insert and a settings update carrying a secret. Unaudited = the same database with the capture triggers disabled (foreign keys on).", "");
    out.push(table(
      ["capture", "synchronous_commit", "audited tps", "floor tps", "unaudited tps", "audited / unaudited", "floor / unaudited", "audited / floor", "target ≥ 0.95", "WAL B/txn audited", "floor", "unaudited", "server CPU µs/txn audited", "floor", "unaudited"],
      r.writes.flatMap((w) => {
        const peer = peerOf(w.variant);
        // the target: the capture's ratio is at least 0.95 of the floor's
        // (judged with synchronous commit on); a peer is not judged
        const verdict = (md: (typeof w.modes)[number]) =>
          peer !== null ? "(peer)" : md.auditedToFloor === null ? "–" : md.synchronousCommit === "on" ? ok(md.auditedToFloor >= T.singleRowOfFloor) : "(reported)";
        return w.modes.map((md) => [
          peer === null ? w.variant : `peer: ${peer}`, md.synchronousCommit,
          n(md.medianTps.audited), n(md.medianTps.floor), n(md.medianTps.unaudited),
          n(md.throughputRatio, 2), n(md.floorRatio, 2), n(md.auditedToFloor, 2), verdict(md),
          n(md.medianWalBytesPerTxn.audited), n(md.medianWalBytesPerTxn.floor), n(md.medianWalBytesPerTxn.unaudited),
          n(md.medianCpuMicrosPerTxn.audited), n(md.medianCpuMicrosPerTxn.floor), n(md.medianCpuMicrosPerTxn.unaudited),
        ]);
      }),
    ));
    out.push("", `Runs: ${r.writes[0]!.pairs} rounds × ${r.writes[0]!.secondsPerRun} s per side and mode, the sides in rotating order on the same database, driver ${r.writes[0]!.driver}. Ratios are medians of the per-round ratios.`);
    out.push("", "Floor: bench/sql/floor-trigger.sql, no design: a row trigger that inserts one entry of the same shape into the same audit.log, with the same indexes and key distribution, and nothing else (no diff, events, redaction or fallbacks). No audit trigger into this table can cost less. audited / floor is the capture's ratio as a share of the floor's; the target is ≥ 0.95.");
    if (r.writes.some((w) => peerOf(w.variant) !== null)) {
      out.push("", "Peer rows: another audit trigger design (bench/peers/), installed in place of the product's capture on a copy of the same database and measured in the same run with the same workload, each against its own unaudited side.");
    }
  }

  if (r.bulk.length) {
    out.push("", `## 2. Bulk statements (${n(r.bulk[0]!.rows)} rows in one statement)`, "");
    out.push("Floor = the unaudited statement plus one direct `INSERT … SELECT` of the same audit rows into audit.log, in one transaction. Row = the same capture as row-level triggers.", "");
    out.push(table(
      ["capture", "statement", "audited (statement-level) ms", "row-level ms", "unaudited ms", "floor ms", "audited / floor", "≤ 1.25", "audited / unaudited", "target", "row-level / statement-level"],
      r.bulk.flatMap((b) => (["insert", "update"] as const).map((op) => {
        const o = b[op];
        const rawTarget = op === "insert" ? T.bulkInsertRaw : T.bulkUpdateRaw;
        return [
          b.variant, op, n(o.medianMs.statement), n(o.medianMs.row), n(o.medianMs.unaudited), n(o.medianMs.floor),
          n(o.ratios.auditedToFloor, 2), ok(o.ratios.auditedToFloor <= T.bulkFloor),
          n(o.ratios.auditedToUnaudited, 2), `${ok(o.ratios.auditedToUnaudited <= rawTarget)} (≤ ${rawTarget})`, n(o.ratios.rowToStatement, 2),
        ];
      })),
    ));
  }

  for (const rd of r.reads) {
    out.push("", `## 3. Reads at ${n(rd.rows)} entries (${rd.variant === "migrated" ? "schema as migrated" : `with bench/variants/${rd.variant}.sql`})`, "");
    out.push(`${n(rd.tenants)} tenants over 24 months ending ${rd.spanEnd.slice(0, 10)}; the largest tenant holds ${n(rd.largestTenantEntries)} entries. audit.log: ${mb(rd.dataset.heapBytes)} heap, ${mb(rd.dataset.indexBytes)} indexes, ${rd.dataset.partitions} partitions${rd.dataset.reused ? " (data set reused from an earlier run" + (rd.dataset.generationSeconds ? `; generated in ${n(rd.dataset.generationSeconds)} s` : "") + ")" : rd.dataset.generationSeconds ? ` (generated in ${n(rd.dataset.generationSeconds)} s)` : ""}.`);
    out.push("", "Time per query in SQL as seen by the client (parse, plan, execute, fetch), as the API sends it: logged in as `audit_authenticator`, in the admin kind's role (`audit_tenant_admin` / `audit_account_admin`) under RLS with the claims in `jwt.claims.*`, half the samples on the three largest tenants. Plan columns: EXPLAIN ANALYZE on the largest tenant; \"scope in index\" = the tenant (and, for account admins, account) predicate is an index condition.", "");
    out.push(`Worst p95 of the 15 ms queries: ${n(rd.worstP95Ms, 1)} ms.`, "");
    out.push(table(
      ["query", "scope", "samples", "p50 ms", "p95 ms", "max ms", "target", "met", "planning ms", "execution ms", "scope in index"],
      rd.queries.map((q) => [
        q.description, q.role.replace("_", " "), q.samples, n(q.p50Ms, 1), n(q.p95Ms, 1), n(q.maxMs, 1), `${q.targetMs} ms${q.informational ? " (info)" : ""}`,
        q.informational ? (q.meetsTarget ? "yes" : "no") : ok(q.meetsTarget), n(q.plan.planningMs, 1), n(q.plan.executionMs, 1), q.plan.scopeIndexCondition ? "yes" : "no",
      ]),
    ));
  }

  if (r.http) {
    out.push("", "## 3b. GraphQL over HTTP", "");
    if ("skipped" in r.http) out.push(`Not measured: ${r.http.skipped}`);
    else {
      out.push(`End to end through the API server (${r.http.rows.toLocaleString("en-US")} entries, ${r.http.variant === "migrated" ? "schema as migrated" : `bench/variants/${r.http.variant}.sql`}): HTTP request with a bearer token, JWT check, PostGraphile, RLS, JSON response.`, "");
      out.push(table(["query", "scope", "samples", "p50 ms", "p95 ms", "max ms", "target", "met"],
        r.http.queries.map((q) => [q.description, q.role.replace("_", " "), q.samples, n(q.p50Ms, 1), n(q.p95Ms, 1), n(q.maxMs, 1),
          `${q.targetMs} ms${q.informational ? " (info)" : ""}`, q.informational ? (q.p95Ms <= q.targetMs ? "yes" : "no") : ok(q.p95Ms <= q.targetMs)])));
    }
  }

  if (r.storage.length) {
    out.push("", "## 4. Storage per entry (a typical update: a process's description)", "");
    out.push(table(
      ["capture", "entries", "tuple B", "heap B/entry", "TOAST B/entry", "indexes B/entry", "total B/entry", "processes row: tuple B", "heap B/row", "indexes B/row", "total B/row", "entry / row"],
      r.storage.map((s) => [
        s.variant, n(s.entries), n(s.auditEntry.avgTupleBytes), n(s.auditEntry.heapBytesPerEntry), n(s.auditEntry.toastBytesPerEntry),
        `${n(Object.values(s.auditEntry.indexBytesPerEntry).reduce((a, b) => a + b, 0))} (${Object.entries(s.auditEntry.indexBytesPerEntry).map(([k, v]) => `${k.replace(/^log_/, "").replace(/_idx$/, "")} ${n(v)}`).join(", ")})`,
        n(s.auditEntry.totalBytesPerEntry),
        n(s.businessRow.avgTupleBytes), n(s.businessRow.heapBytesPerRow), n(s.businessRow.indexBytesPerRow), n(s.businessRow.totalBytesPerRow), n(s.entryToRowRatio, 2),
      ]),
    ));
  }

  if (r.partitions.length) {
    out.push("", "## 5. Partition maintenance under write load", "");
    out.push(`4 writers run audited single-row transactions without pause; the longest write that overlapped each maintenance call, next to the writes outside maintenance. "behind a reader": an admin's read transaction on audit.log stays open ${r.partitions[0]!.readerHoldMs} ms around the call.`, "");
    out.push(table(
      ["capture", "writes outside: p50 ms", "p99 ms", "max ms", "ensure_partitions (nothing to do): longest write ms", "creating a partition: longest write ms", "creating a partition behind a reader: longest write ms", "maintenance call ms (create / behind reader)"],
      r.partitions.map((p) => [
        p.variant, n(p.baseline.p50Ms, 2), n(p.baseline.p99Ms, 1), n(p.baseline.maxMs, 1), n(p.worstStallMs.noop, 1), n(p.worstStallMs.create, 1), n(p.worstStallMs["behind-reader"], 1),
        `${n(Math.max(...p.events.filter((e) => e.scenario === "create").map((e) => e.maintenanceMs)), 1)} / ${n(Math.max(...p.events.filter((e) => e.scenario === "behind-reader").map((e) => e.maintenanceMs)), 0)}`,
      ]),
    ));
  }

  if (r.load) renderLoad(out, r.load);
  if (r.detect) renderDetect(out, r.detect);
  if (r.seal) renderSeal(out, r.seal);

  if (r.notes.length) out.push("", "## Notes", "", ...r.notes.map((x) => `- ${x}`));
  out.push("");
  return out.join("\n");
}

const GROUP_ORDER = ["list", "count", "aggregates", "other"];

function renderLoad(out: string[], l: LoadResult | { skipped: string }): void {
  out.push("", "## 6. Load: admins beside a writer at a fixed rate", "");
  if ("skipped" in l) {
    out.push(`Not measured: ${l.skipped}`);
    return;
  }
  const t = l.target;
  const group = (s: LoadStep, g: string) => s.readers.groups.find((x) => x.kind === g);
  const p95 = (s: LoadStep, g: string) => group(s, g)?.p95Ms ?? Number.NaN;
  out.push(
    `${n(l.rows)} entries (${l.variant === "migrated" ? "schema as migrated" : `bench/variants/${l.variant}.sql`}), on a copy of the read data set. ` +
      `The API server (\`npm start\`'s: page routes, export, production defaults) in a process of its own; admins send the page's requests at a fixed, open-loop rate ` +
      `(${l.tool}, \`requestsPerSecond\`: each request starts on schedule, on a new connection when the open ones are busy), ` +
      `${l.scopes.tenantAdmins} tenant admins and ${l.scopes.accountAdmins} account admins of the tenants ranked ${[...new Set(l.scopes.tenantRanks)].join(", ")} by size, ` +
      `plus one export (CSV of the default view, the last 30 days) every ${l.exportEverySeconds} s. Beside them pgbench writes audited single-row transactions as \`app_user\` ` +
      `at a fixed ${n(l.writer.rate)}/s (\`--rate\`, ${l.writer.clients} connections; ${l.writer.transactions.join(", ")}). ` +
      "Latency runs from a request's (transaction's) scheduled start to the end of its answer; loadtest counts whole milliseconds.",
    "",
  );
  const lowest = Math.min(t.rate, ...l.steps.map((s) => s.rate));
  const capacity = l.capacity.rate === null ? `below ${n(lowest)} requests/s (${l.capacity.note})` : `**${n(l.capacity.rate)} requests/s** (${l.capacity.note})`;
  const writerOk = t.writer.ofTarget >= LOAD_TARGETS.writerOfTarget;
  const writerRatio = t.writer.p95Ms / l.baseline.p95Ms;
  const errors = t.readers.errors + t.writer.failed;
  out.push(table(["target (readers at " + `${n(t.rate)} requests/s for ${n(t.readers.seconds)} s)`, "measured", "met"], [
    [`writer ≥ ${LOAD_TARGETS.writerOfTarget} of its ${n(l.writer.rate)} transactions/s`, `${n(t.writer.ofTarget, 3)} (${n(t.writer.tps, 1)}/s)`, ok(writerOk)],
    [`write p95 ≤ ${LOAD_TARGETS.writerP95OfBaseline} × its reader-free p95`, `${n(t.writer.p95Ms, 2)} ms vs ${n(l.baseline.p95Ms, 2)} ms (${n(writerRatio, 2)} ×)`, ok(writerRatio <= LOAD_TARGETS.writerP95OfBaseline)],
    [`list p95 ≤ ${LOAD_TARGETS.listP95Ms} ms`, `${n(p95(t, "list"), 0)} ms`, ok(p95(t, "list") <= LOAD_TARGETS.listP95Ms)],
    [`capped count p95 ≤ ${LOAD_TARGETS.countP95Ms} ms`, `${n(p95(t, "count"), 0)} ms`, ok(p95(t, "count") <= LOAD_TARGETS.countP95Ms)],
    [`chart and user menu p95 ≤ ${LOAD_TARGETS.aggregatesP95Ms} ms`, `${n(p95(t, "aggregates"), 0)} ms`, ok(p95(t, "aggregates") <= LOAD_TARGETS.aggregatesP95Ms)],
    ["no error", `${n(t.readers.errors)} of ${n(t.readers.sent)} requests and ${t.readers.exports.length} exports; ${n(t.writer.failed)} of ${n(t.writer.transactions)} transactions`, ok(errors === 0)],
    [`capacity: the highest read rate with the list p95 ≤ ${LOAD_TARGETS.listP95Ms} ms`, capacity, "(reported)"],
  ]));
  if (t.readers.errorSamples.length) out.push("", `Errors: ${Object.entries(t.readers.errorCodes).map(([k, v]) => `${k} × ${v}`).join(", ")}; e.g. ${t.readers.errorSamples.map((e) => `\`${e.replaceAll("`", "'")}\``).join("; ")}.`);

  out.push("", `### Requests at ${n(t.rate)} requests/s (${n(t.readers.sent)} sent, ${n(t.readers.achievedRate, 1)}/s finished)`, "");
  const share = new Map(l.mix.map((m) => [m.kind, m.share]));
  const groupName: Record<string, string> = { list: "**all list requests**", count: "**all counts**", aggregates: "**all aggregates (chart, user menu)**", other: "**all others**", all: "**everything**" };
  out.push(table(["request", "share of the mix %", "requests", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms"], [
    ...[...t.readers.kinds].sort((a, b) => GROUP_ORDER.indexOf(a.group) - GROUP_ORDER.indexOf(b.group) || (share.get(b.kind) ?? 0) - (share.get(a.kind) ?? 0))
      .map((k) => [k.kind, n(share.get(k.kind), 1), n(k.requests), n(k.errors), n(k.p50Ms, 0), n(k.p95Ms, 0), n(k.p99Ms, 0), n(k.maxMs, 0)]),
    ...t.readers.groups.map((g) => [groupName[g.kind] ?? g.kind, "", n(g.requests), n(g.errors), n(g.p50Ms, 0), n(g.p95Ms, 0), n(g.p99Ms, 0), n(g.maxMs, 0)]),
  ]));
  const exports = [t, ...l.steps].flatMap((s) => s.readers.exports.map((e) => ({ rate: s.rate, ...e })));
  if (exports.length) {
    out.push("", "Exports (the whole file read as it streams):", "");
    out.push(table(["beside requests/s", "scope", "started at s", "rows", "MB", "seconds", "error"],
      exports.map((e) => [n(e.rate), e.scope, n(e.startedAtSeconds, 0), n(e.rows), n(e.bytes / 1024 ** 2, 1), n(e.ms / 1000, 1), e.error ?? ""])));
  }

  out.push("", "### The writer", "");
  const writerRuns: [string, WriterFigures][] = [["alone (reader-free baseline)", l.baseline], ...[t, ...l.steps].map((s): [string, WriterFigures] => [`beside ${n(s.rate)} requests/s`, s.writer])];
  // (results of runs before these were recorded have neither)
  const perTxn = writerRuns.some(([, w]) => w.walBytesPerTxn !== undefined);
  out.push(table(["run", "target /s", "achieved /s", "of target", "p50 ms", "p95 ms", "p99 ms", "max ms", "longest schedule lag ms", "failed", ...(perTxn ? ["WAL B/txn", "PostgreSQL CPU µs/txn"] : [])],
    writerRuns.map(([name, w]) => [name, n(w.targetRate), n(w.tps, 1), n(w.ofTarget, 3), n(w.p50Ms, 2), n(w.p95Ms, 2), n(w.p99Ms, 2), n(w.maxMs, 1), n(w.maxLagMs, 1), n(w.failed),
      ...(perTxn ? [n(w.walBytesPerTxn), n(w.postgresCpuMicrosPerTxn)] : [])])));
  if (perTxn) out.push("", "WAL and PostgreSQL CPU are the whole run's per write transaction: beside readers they include the readers' share.");

  out.push("", "### Capacity search", "");
  out.push(table(["read requests/s", "seconds", "finished /s", "errors", "list p95 ms", "count p95 ms", "aggregates p95 ms", "everything p99 ms", "writer /s", "writer p95 ms", `list p95 ≤ ${LOAD_TARGETS.listP95Ms} ms`], [t, ...l.steps].map((s) => [
    n(s.rate), n(s.readers.seconds, 0), n(s.readers.achievedRate, 1), n(s.readers.errors), n(p95(s, "list"), 0), n(p95(s, "count"), 0), n(p95(s, "aggregates"), 0),
    n(group(s, "all")?.p99Ms, 0), n(s.writer.tps, 1), n(s.writer.p95Ms, 2), ok(s.passes),
  ])));
  out.push("", `Capacity: ${capacity}.`);

  out.push("", "### Where the CPU went", "");
  out.push("Cores busy during each run (CPU seconds per second; the machine has 2): the whole machine (whatever ran), the PostgreSQL cluster (embedded server only), the API process, pgbench and the load generator (the bench's own process); \"rest\" is the machine's busy time none of them used (the kernel's work for others, other processes).", "");
  const cpuRuns: [string, CpuShares][] = [["the writer alone", l.baselineCpu], ...[t, ...l.steps].map((s): [string, CpuShares] => [`beside ${n(s.rate)} requests/s`, s.cpu])];
  out.push(table(["run", "machine", "PostgreSQL", "API server", "pgbench", "load generator", "rest"], cpuRuns.map(([name, c]) => {
    const known = (c.postgres ?? 0) + (c.api ?? 0) + (c.pgbench ?? 0) + c.loadGenerator;
    return [name, n(c.machine, 2), n(c.postgres, 2), n(c.api, 2), n(c.pgbench, 2), n(c.loadGenerator, 2), n(Math.max(0, c.machine - known), 2)];
  })));
}

export async function writeResults(prefix: string, r: BenchResults): Promise<{ json: string; md: string }> {
  await mkdir(path.dirname(prefix), { recursive: true });
  const json = `${prefix}.json`;
  const md = `${prefix}.md`;
  await writeFile(json, JSON.stringify(r, null, 2) + "\n");
  await writeFile(md, renderMarkdown(r));
  return { json, md };
}
