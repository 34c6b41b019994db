// `npm run verify` against the database: every seal in range recomputed, and
// the log compared with it, entry by entry. Nothing here trusts a function of
// the project in the database (an attacker with superuser could replace
// audit.verify() or audit_private.entry_leaf_hash()): each entry's leaf hash
// is computed by the verifier's own query from PostgreSQL's built-ins over
// the canonical form (canonicalLeafSql, the same bytes as canonical.ts, held
// to it by test/sealing/golden.test.ts), and the Merkle roots, the seal
// hashes, the chain and the signatures are computed here. The hashing runs on
// two connections sharing one repeatable-read snapshot (a tenant of 1,000,000
// entries is about 13 s of hashing on one core), so that a round sealed
// meanwhile is not half seen.
import type { KeyObject } from "node:crypto";
import pg from "pg";
import { microsSql, sealFieldsSql, sealHash, type SealFields } from "./canonical.ts";
import { verifySealSignature } from "./keys.ts";
import { merkleRoot } from "./merkle.ts";

export const VERIFY_STATUSES = ["ok", "modified", "missing", "inserted", "chain_broken", "bad_signature", "maintenance", "unsealed"] as const;
export type VerifyStatus = (typeof VERIFY_STATUSES)[number];

/** Statuses that are not findings: `npm run verify` exits 0 on these alone. */
export const BENIGN_STATUSES: readonly VerifyStatus[] = ["ok", "maintenance"];

/** One status of one sealed round (seq null: entries of the tenant outside every seal). */
export interface RoundResult {
  tenantId: string;
  seq: string | null;
  occurredFrom: string | null;
  occurredTo: string | null;
  status: VerifyStatus;
  entryIds: string[];
  detail: string | null;
}

export interface TenantVerification {
  tenantId: string;
  seals: number;
  entries: number;
  /** Findings per status other than ok ({} when the log matched its seals). */
  findings: Partial<Record<VerifyStatus, number>>;
}

export interface VerifyOptions {
  tenantId?: string | null;
  from?: Date | null;
  to?: Date | null;
  /** Trusted public keys by key id; null: signatures not checked. */
  publicKeys: Map<string, KeyObject> | null;
  /** Entries waiting this long behind a stalled sealer are reported unsealed. */
  unsealedAfterMs: number;
  /** Rows fetched per round trip. */
  batchSize?: number;
  /** A second connection to the same database shares the hashing (the verifier's snapshot, exported); none: one connection. */
  connectionString?: string | null;
  /** Seals a tenant kept outside the database (`npm run seal` prints them): each must still be in its chain, unchanged. */
  anchors?: SealAnchor[];
}

export interface SealAnchor {
  tenantId: string;
  seq: string;
  sealHash: string;
}

const ANCHOR_LINE = /^\s*([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\s+(?:seal\s+)?(\d+)\s+([0-9a-f]{64})\s*$/i;

/**
 * Anchors from text: one "tenant seq hash" a line, or the lines `npm run seal`
 * prints ("tenant  seal 12  hash"); other lines are ignored. Throws when no
 * line is an anchor.
 */
export function parseAnchors(text: string): SealAnchor[] {
  const anchors = text.split(/\r?\n/).flatMap((line) => {
    const m = ANCHOR_LINE.exec(line);
    return m ? [{ tenantId: m[1]!.toLowerCase(), seq: String(BigInt(m[2]!)), sealHash: m[3]!.toLowerCase() }] : [];
  });
  if (anchors.length === 0) throw new Error('no anchor in it: expected lines of "<tenant id> seal <number> <hash>", as npm run seal prints them');
  return anchors;
}

export interface VerifyResult {
  rounds: RoundResult[];
  tenants: TenantVerification[];
  signaturesChecked: boolean;
  ms: number;
}

/** A seal as verified: its fields (as hashed), its signature and stored hash, its span for people, and its successor when re-sealed. */
interface SealRow extends SealFields {
  occurredFrom: string | null;
  occurredTo: string | null;
  signature: string;
  sealHash: string;
  supersededBy: string | null;
}

const ISO = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

// The canonical form's columns (canonical.ts ENTRY_FIELDS' order), each as
// PostgreSQL's own text, with core casts only.
const CANONICAL_COLUMNS = [
  "l.id::text", microsSql("l.occurred_at"), "l.tenant_id::text", "l.account_id::text",
  "l.actor_type::text", "l.actor_id::text", "l.actor_email", "l.actor_name", "l.action", "l.resource_type", "l.entity_id", "l.event",
  "l.old_values::text", "l.new_values::text", "l.context::text", "l.transaction_id::text", "l.entity_label",
];

/**
 * The leaf hash of `audit.log l` (hex), from PostgreSQL's built-ins only:
 * 0x00 || each field as 0x00, or 0x01 + UTF-8 length + UTF-8. In a UTF8
 * database the text's own length is its UTF-8 length (a fifth cheaper).
 */
export function canonicalLeafSql(utf8Database = false): string {
  const length = (c: string) => (utf8Database ? `pg_catalog.octet_length(${c})` : `pg_catalog.octet_length(pg_catalog.convert_to(${c}, 'UTF8'))`);
  const field = (c: string) =>
    `coalesce('\\x01'::bytea || pg_catalog.int4send(${length(c)}) || pg_catalog.convert_to(${c}, 'UTF8'), '\\x00'::bytea)`;
  return `pg_catalog.encode(pg_catalog.sha256('\\x00'::bytea || ${CANONICAL_COLUMNS.map(field).join(" || ")}), 'hex')`;
}

const RAW_TEXT = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

/** The tenants to verify: one, or every tenant with seals or entries (a loose index scan of the log's key). */
async function tenantsToVerify(client: pg.ClientBase, tenantId: string | null | undefined, anchored: string[]): Promise<string[]> {
  if (tenantId) return [tenantId];
  const { rows } = await client.query<{ tenant_id: string }>(`
    with recursive t(tenant_id) as (
      (select l.tenant_id from audit.log l order by l.tenant_id limit 1)
      union all
      select (select l.tenant_id from audit.log l where l.tenant_id > t.tenant_id order by l.tenant_id limit 1)
        from t where t.tenant_id is not null)
    select tenant_id::text from t where tenant_id is not null
    union
    select distinct s.tenant_id::text from audit.seals s
    order by 1`);
  // a tenant whose seals and entries are all gone is still checked against its anchors
  return [...new Set([...rows.map((r) => r.tenant_id), ...anchored])].sort();
}

/** Verifies the log against its seals; see docs/tamper-evidence.md for what each status means. */
export async function verifyLog(client: pg.ClientBase, options: VerifyOptions): Promise<VerifyResult> {
  const started = performance.now();
  const batchSize = options.batchSize ?? 20_000;
  const rounds: RoundResult[] = [];
  const tenants: TenantVerification[] = [];
  const helpers: pg.Client[] = [];
  await client.query("begin isolation level repeatable read read only");
  try {
    const { rows: consumer } = await client.query<{ watermark: string | null; stalled: boolean; horizon: string; utf8: boolean }>(
      `select (select c.watermark::text from audit_private.log_consumers c where c.consumer = 'seals') as watermark,
              coalesce((select c.last_round_at < now() - make_interval(secs => $1::double precision / 1000)
                          from audit_private.log_consumers c where c.consumer = 'seals'), true) as stalled,
              pg_snapshot_xmin(pg_current_snapshot())::text as horizon,
              current_setting('server_encoding') = 'UTF8' as utf8`,
      [options.unsealedAfterMs],
    );
    const watermark = BigInt(consumer[0]!.watermark ?? "0");
    const stalled = consumer[0]!.stalled;
    const horizon = BigInt(consumer[0]!.horizon);
    if (options.connectionString) helpers.push(await snapshotHelper(client, options.connectionString));
    for (const tenantId of await tenantsToVerify(client, options.tenantId, (options.anchors ?? []).map((a) => a.tenantId))) {
      const t = await verifyTenant(client, tenantId, options, { helpers, utf8Database: consumer[0]!.utf8, watermark, stalled, horizon, batchSize });
      rounds.push(...t.rounds);
      tenants.push(t.summary);
    }
    await client.query("commit");
  } catch (err) {
    await client.query("rollback").catch(() => undefined);
    throw err;
  } finally {
    await Promise.all(helpers.map((h) => h.end().catch(() => undefined)));
  }
  return { rounds, tenants, signaturesChecked: options.publicKeys !== null, ms: Math.round(performance.now() - started) };
}

/** A connection in the client's snapshot (exported; the client's transaction must stay open while it is used). */
async function snapshotHelper(client: pg.ClientBase, connectionString: string): Promise<pg.Client> {
  const { rows } = await client.query<{ id: string }>("select pg_export_snapshot() as id");
  const helper = new pg.Client({ connectionString, application_name: "audit-trail-verify" });
  await helper.connect();
  try {
    await helper.query("begin isolation level repeatable read read only");
    await helper.query(`set transaction snapshot '${rows[0]!.id.replace(/'/g, "")}'`);
  } catch (err) {
    await helper.end().catch(() => undefined);
    throw err;
  }
  return helper;
}

interface ConsumerState {
  /** Further connections in the same snapshot, hashing a share of the entries. */
  helpers: pg.ClientBase[];
  utf8Database: boolean;
  watermark: bigint;
  stalled: boolean;
  horizon: bigint;
  batchSize: number;
}

async function verifyTenant(client: pg.ClientBase, tenantId: string, options: VerifyOptions, state: ConsumerState) {
  const from = options.from ?? null;
  const to = options.to ?? null;
  const { rows: seals } = await client.query<SealRow>(
    `select ${sealFieldsSql("s")},
            ${ISO("s.occurred_from")} as "occurredFrom", ${ISO("s.occurred_to")} as "occurredTo",
            s.signature, s.seal_hash as "sealHash",
            (select max(n.seq)::text from audit.seals n where n.tenant_id = s.tenant_id and n.supersedes = s.seq) as "supersededBy"
       from audit.seals s where s.tenant_id = $1 order by s.seq`,
    [tenantId],
  );
  const inRange = (s: SealRow) =>
    (from === null || s.occurredToMicros === null || BigInt(s.occurredToMicros) >= BigInt(from.getTime()) * 1000n) &&
    (to === null || s.occurredFromMicros === null || BigInt(s.occurredFromMicros) < BigInt(to.getTime()) * 1000n);
  const checked = seals.filter(inRange);
  const isChecked = new Set(checked.map((s) => s.seq));
  const bySeq = new Map(seals.map((s) => [s.seq, s]));
  const findings: RoundResult[] = [];
  const add = (s: SealRow | null, status: VerifyStatus, entryIds: string[] = [], detail: string | null = null) =>
    findings.push({ tenantId, seq: s?.seq ?? null, occurredFrom: s?.occurredFrom ?? null, occurredTo: s?.occurredTo ?? null, status, entryIds, detail });

  // Seals the tenant kept outside the database: the chain must still hold them, unchanged.
  for (const anchor of (options.anchors ?? []).filter((a) => a.tenantId === tenantId)) {
    const s = bySeq.get(anchor.seq);
    if (!s) {
      findings.push({ tenantId, seq: anchor.seq, occurredFrom: null, occurredTo: null, status: "chain_broken", entryIds: [],
        detail: `the anchored seal ${anchor.seq} (${anchor.sealHash}) is gone: seals were removed` });
    } else if (s.sealHash !== anchor.sealHash) {
      add(s, "chain_broken", [], `it is not the anchored seal ${anchor.seq} (${anchor.sealHash}): the chain was rewritten`);
    }
  }

  // The leaves each checked seal stored, in its order.
  const leaves = new Map<string, { ids: string[]; hashes: Buffer[] }>();
  if (checked.length > 0) {
    // One row per seal: its ids as text and its leaves as one hex string, cut
    // into 32-byte leaves here (far cheaper than a row per leaf).
    const seqs = checked.map((s) => s.seq);
    await client.query(
      `declare seal_leaves no scroll cursor for
       select s.seq::text, pg_catalog.array_to_string(s.entry_ids, ','),
              pg_catalog.replace(pg_catalog.array_to_string(s.entry_hashes::text[], ''), '\\x', '')
         from audit.seals s where s.tenant_id = $1 and s.seq = any($2::bigint[]) order by s.seq`,
      [tenantId, seqs],
    );
    for (;;) {
      const { rows } = await client.query<string[]>({ text: "fetch 100 from seal_leaves", rowMode: "array", types: RAW_TEXT });
      for (const [seq, ids, hex] of rows) {
        const all = Buffer.from(hex!, "hex");
        const hashes: Buffer[] = [];
        for (let i = 0; i < all.length; i += 32) hashes.push(all.subarray(i, i + 32));
        leaves.set(seq!, { ids: ids ? ids.split(",") : [], hashes });
      }
      if (rows.length < 100) break;
    }
    await client.query("close seal_leaves");
  }

  // The seals themselves: hash, Merkle root, chain, signature.
  let previousOriginal: SealRow | null = null;
  for (const s of seals) {
    if (isChecked.has(s.seq)) {
      // what the signature must be over: the hash of the seal's fields as they are now
      const hash = sealHash(s);
      if (hash !== s.sealHash) add(s, "chain_broken", [], "the seal does not match its hash: it was altered");
      const l = leaves.get(s.seq) ?? { ids: [], hashes: [] };
      if (l.ids.length !== Number(s.entryCount) || l.hashes.length !== Number(s.entryCount) || merkleRoot(l.hashes).toString("hex") !== s.merkleRoot) {
        add(s, "chain_broken", [], "its entry list does not match its Merkle root or count");
      }
      const seq = BigInt(s.seq);
      const prev = bySeq.get(String(seq - 1n));
      if (seq > 1n && !prev) add(s, "chain_broken", [], `seal ${seq - 1n}, its predecessor, is missing`);
      else if ((seq > 1n && prev && s.previousHash !== prev.sealHash) || (seq === 1n && s.previousHash !== null)) {
        add(s, "chain_broken", [], `its previous_hash does not match seal ${seq - 1n}`);
      }
      if (s.supersedes === null && s.fromXid !== (previousOriginal?.toXid ?? "0")) {
        add(s, "chain_broken", [], `transactions ${previousOriginal?.toXid ?? "0"} to ${s.fromXid} are covered by no seal`);
      }
      if (s.supersedes !== null) {
        const old = bySeq.get(s.supersedes);
        if (!old || old.fromXid !== s.fromXid || old.toXid !== s.toXid) {
          add(s, "chain_broken", [], `it supersedes seal ${s.supersedes} but does not cover the same transactions`);
        }
      }
      if (options.publicKeys) {
        const key = options.publicKeys.get(s.keyId);
        if (!key) add(s, "bad_signature", [], `signed with key ${s.keyId}, which is not among the trusted public keys`);
        else if (!verifySealSignature(hash, s.signature, key)) add(s, "bad_signature", [], "the signature does not verify");
      }
      if (s.supersededBy !== null) {
        const by = bySeq.get(s.supersededBy);
        add(s, "maintenance", [], `re-sealed as seal ${s.supersededBy}: ${by?.reason ?? "maintenance"}`);
      }
    }
    if (s.supersedes === null) previousOriginal = s;
  }

  // The entries: what the current seals stored against what the log holds.
  const current = checked.filter((s) => s.supersededBy === null);
  const stored = new Map<string, { seal: SealRow; hash: string }>();
  for (const s of current) {
    const l = leaves.get(s.seq);
    if (!l) continue;
    l.ids.forEach((id, i) => stored.set(id, { seal: s, hash: l.hashes[i]?.toString("hex") ?? "" }));
  }
  // every current seal of the tenant, in or out of the time range: they tile the transactions
  const tiles = seals.filter((s) => s.supersededBy === null).sort((a, b) => (BigInt(a.fromXid) < BigInt(b.fromXid) ? -1 : 1));
  const covering = (xid: bigint) => {
    let lo = 0;
    let hi = tiles.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = tiles[mid]!;
      if (xid < BigInt(s.fromXid)) hi = mid - 1;
      else if (xid >= BigInt(s.toXid)) lo = mid + 1;
      else return s;
    }
    return null;
  };
  const perSeal = new Map<string, Map<VerifyStatus, string[]>>();
  const note = (s: SealRow | null, status: VerifyStatus, id: string) => {
    const key = s?.seq ?? "";
    let m = perSeal.get(key);
    if (!m) perSeal.set(key, (m = new Map()));
    const list = m.get(status) ?? [];
    list.push(id);
    m.set(status, list);
  };
  const seen = new Set<string>();
  let entries = 0;
  const conditions = ["l.tenant_id = $1"];
  const values: unknown[] = [tenantId];
  if (from) conditions.push(`l.occurred_at >= $${values.push(from)}`);
  if (to) conditions.push(`l.occurred_at < $${values.push(to)}`);
  const onRow = ([id, xidText, leaf]: (string | null)[]) => {
    entries++;
    const have = stored.get(id!);
    if (have) {
      seen.add(id!);
      if (leaf !== have.hash) note(have.seal, "modified", id!);
      return;
    }
    const xid = BigInt(xidText!);
    const seal = covering(xid);
    // in a sealed range but not in its seal (a legitimate entry of a seal
    // outside the time range is outside it too)
    if (seal) note(seal, "inserted", id!);
    else if (xid < state.watermark || (state.stalled && xid < state.horizon)) note(null, "unsealed", id!);
  };
  // Each connection hashes every other entry (by id), in the same snapshot.
  const connections = [client, ...state.helpers];
  await Promise.all(connections.map(async (c, part) => {
    const where = [...conditions, `l.id % ${connections.length} = ${part}`].join(" and ");
    await c.query(`declare tenant_entries no scroll cursor for select l.id::text, l.transaction_id::text, ${canonicalLeafSql(state.utf8Database)} from audit.log l where ${where}`, values);
    const fetch = () => c.query<(string | null)[]>({ text: `fetch ${state.batchSize} from tenant_entries`, rowMode: "array", types: RAW_TEXT });
    // The next batch is asked for before this one is processed: the backend
    // hashes while this process compares.
    let next = fetch();
    for (;;) {
      const { rows } = await next;
      const more = rows.length === state.batchSize;
      if (more) next = fetch();
      rows.forEach(onRow);
      if (!more) break;
    }
    await c.query("close tenant_entries");
  }));
  for (const [id, { seal }] of stored) {
    if (seen.has(id)) continue;
    // gone, or only outside the time range
    if (from || to) {
      const { rows } = await client.query<{ inside: boolean }>(
        "select exists (select from audit.log l where l.tenant_id = $1 and l.id = $2::bigint) as inside",
        [tenantId, id],
      );
      if (rows[0]!.inside) continue;
    }
    note(seal, "missing", id);
  }

  // Journaled maintenance after a seal was made explains its changes.
  if (perSeal.size > 0) {
    const ids = [...perSeal.values()].flatMap((m) => [...m.entries()].filter(([st]) => st !== "unsealed").flatMap(([, list]) => list));
    const { rows: journal } = await client.query<{ entry_id: string; transaction_id: string; reason: string }>(
      `select j.entry_id::text, j.transaction_id::text, j.reason from audit.maintenance_journal j
        where $1 in (j.tenant_id, j.new_tenant_id) and j.entry_id = any($2::bigint[])`,
      [tenantId, ids],
    );
    for (const [seq, byStatus] of perSeal) {
      const seal = bySeq.get(seq) ?? null;
      for (const [status, list] of byStatus) {
        const explained: string[] = [];
        const reasons = new Set<string>();
        const rest = list.filter((id) => {
          if (!seal || status === "unsealed") return true;
          const j = journal.filter((row) => row.entry_id === id && BigInt(row.transaction_id) >= BigInt(seal.sealedThroughXid));
          if (j.length === 0) return true;
          explained.push(id);
          j.forEach((row) => reasons.add(row.reason));
          return false;
        });
        if (explained.length > 0) add(seal, "maintenance", sortIds(explained), [...reasons].sort().join("; "));
        if (rest.length > 0) add(seal, status, sortIds(rest));
      }
    }
  }
  for (const s of current) {
    if (!findings.some((f) => f.seq === s.seq)) add(s, "ok");
  }
  findings.sort((a, b) => compareSeq(a.seq, b.seq) || a.status.localeCompare(b.status));
  const counts: Partial<Record<VerifyStatus, number>> = {};
  for (const f of findings) if (f.status !== "ok") counts[f.status] = (counts[f.status] ?? 0) + 1;
  return { rounds: findings, summary: { tenantId, seals: checked.length, entries, findings: counts } };
}

function sortIds(ids: string[]): string[] {
  return ids.sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0));
}

function compareSeq(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return BigInt(a) < BigInt(b) ? -1 : 1;
}

/** Whether a result holds a finding `npm run verify` exits 1 for. */
export function hasFindings(result: VerifyResult): boolean {
  return result.rounds.some((r) => !BENIGN_STATUSES.includes(r.status));
}

/** Stores each tenant's result in audit.verifications (what the page shows), as the owner. */
export async function recordVerification(client: pg.ClientBase, result: VerifyResult, by: string, options: Pick<VerifyOptions, "from" | "to">): Promise<void> {
  if (result.tenants.length === 0) return;
  await client.query(
    `insert into audit.verifications (tenant_id, verified_by, range_from, range_to, seals_checked, entries_checked, findings, signatures_checked, ms)
     select t.tenant_id, $2, $3, $4, t.seals, t.entries, t.findings, $5, $6
       from jsonb_to_recordset($1::jsonb) t(tenant_id uuid, seals integer, entries bigint, findings jsonb)`,
    [JSON.stringify(result.tenants.map((t) => ({ tenant_id: t.tenantId, seals: t.seals, entries: t.entries, findings: t.findings }))),
      by, options.from ?? null, options.to ?? null, result.signaturesChecked, result.ms],
  );
}
