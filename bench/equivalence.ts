// Proof that a capture configuration records the same thing as the migrated
// one: the fixed writes of bench/sql/equivalence-workload.sql run on a fresh
// database of each, and the entries (all columns but id, instants and
// transaction ids; creation instants inside the values too) must be equal.
import { readFile } from "node:fs/promises";
import pg from "pg";
import { benchDir, cloneDatabase, dropDatabase, type BenchServer } from "./server.ts";
import { applyVariant } from "./write-database.ts";

export interface EquivalenceResult {
  variant: string;
  entries: number;
  identical: boolean;
  /** Up to 5 entries found on one side only, as JSON. */
  differences: string[];
}

const ENTRIES = `
  select jsonb_build_object(
           'event', event, 'action', action, 'resource_type', resource_type, 'entity_id', entity_id,
           'tenant_id', tenant_id, 'account_id', account_id, 'actor_type', actor_type, 'actor_id', actor_id,
           'actor_email', actor_email, 'actor_name', actor_name, 'context', context - 'client_addr',
           'old_values', old_values - 'created_at', 'new_values', new_values - 'created_at')::text as entry
    from audit.log order by 1`;

async function entriesOf(server: BenchServer, template: string, variant: string): Promise<string[]> {
  const name = `audit_bench_eq_${variant.replace(/[^a-z0-9]+/g, "_")}`;
  await cloneDatabase(server, template, name);
  const c = new pg.Client({ connectionString: server.url(name) });
  await c.connect();
  try {
    await applyVariant(c, variant);
    await c.query(await readFile(`${benchDir}sql/equivalence-workload.sql`, "utf8"));
    return (await c.query<{ entry: string }>(ENTRIES)).rows.map((r) => r.entry);
  } finally {
    await c.end();
    await dropDatabase(server.rootUrl, name);
  }
}

export async function checkEquivalence(server: BenchServer, template: string, variants: string[]): Promise<EquivalenceResult[]> {
  const reference = await entriesOf(server, template, "migrated");
  const out: EquivalenceResult[] = [];
  for (const variant of variants.filter((v) => v !== "migrated")) {
    const entries = await entriesOf(server, template, variant);
    const count = (xs: string[]) => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>());
    const a = count(reference);
    const b = count(entries);
    const differences = [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k));
    out.push({ variant, entries: entries.length, identical: differences.length === 0, differences: differences.slice(0, 5) });
  }
  return out;
}
