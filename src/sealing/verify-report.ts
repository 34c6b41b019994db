// How `npm run verify` reports: a summary per tenant and a line per finding,
// or (--json) an array of {tenant_id, round, occurred_from, occurred_to,
// status, entry_ids}, one element per status of each sealed round.
import { BENIGN_STATUSES, type VerifyResult } from "./verifier.ts";

export interface JsonRound {
  tenant_id: string;
  /** The seal's number in its tenant's chain; null for entries outside every seal. */
  round: number | null;
  occurred_from: string | null;
  occurred_to: string | null;
  status: string;
  entry_ids: number[];
  detail?: string;
}

export function jsonVerification(result: VerifyResult): JsonRound[] {
  return result.rounds.map((r) => ({
    tenant_id: r.tenantId,
    round: r.seq === null ? null : Number(r.seq),
    occurred_from: r.occurredFrom,
    occurred_to: r.occurredTo,
    status: r.status,
    entry_ids: r.entryIds.map(Number),
    ...(r.detail ? { detail: r.detail } : {}),
  }));
}

const SHOWN_IDS = 20;

function ids(list: string[]): string {
  if (list.length === 0) return "";
  const shown = list.slice(0, SHOWN_IDS).join(", ");
  return ` ids ${shown}${list.length > SHOWN_IDS ? ` and ${list.length - SHOWN_IDS} more (--json lists all)` : ""}`;
}

export function formatVerification(result: VerifyResult): string {
  const lines: string[] = [];
  for (const t of result.tenants) {
    const found = Object.entries(t.findings).filter(([status]) => !BENIGN_STATUSES.includes(status as never));
    const maintenance = t.findings.maintenance ?? 0;
    const verdict = found.length === 0 ? "ok" : found.map(([status, n]) => `${n} ${status}`).join(", ");
    lines.push(`tenant ${t.tenantId}: ${t.seals} seals, ${t.entries} entries: ${verdict}${maintenance ? ` (${maintenance} journaled maintenance)` : ""}`);
    for (const r of result.rounds) {
      if (r.tenantId !== t.tenantId || r.status === "ok") continue;
      const where = r.seq === null ? "outside every seal" : `seal ${r.seq}${r.occurredFrom ? ` (${r.occurredFrom} .. ${r.occurredTo})` : ""}`;
      lines.push(`  ${r.status.padEnd(13)} ${where}${ids(r.entryIds)}${r.detail ? `: ${r.detail}` : ""}`);
    }
  }
  const bad = result.rounds.filter((r) => !BENIGN_STATUSES.includes(r.status)).length;
  lines.push(
    "",
    `${result.tenants.length} tenant${result.tenants.length === 1 ? "" : "s"}, ${result.tenants.reduce((n, t) => n + t.seals, 0)} seals, ` +
      `${result.tenants.reduce((n, t) => n + t.entries, 0)} entries in ${result.ms} ms; signatures ${result.signaturesChecked ? "checked" : "NOT checked (--skip-signatures)"}. ` +
      (bad === 0 ? "No tampering found." : `${bad} finding${bad === 1 ? "" : "s"}: the log does not match its seals.`),
  );
  return lines.join("\n");
}
