// Sealing rounds: the log's consumer 'seals' (db/schema/log-consumers.sql:
// one runner at a time, rounds of transactions below the xmin horizon). The
// database stages each round's seals (audit_private.stage_seals: leaf hashes,
// Merkle roots, the chain); this process recomputes every seal's hash from
// its fields with its own code, refuses to sign what it does not recompute,
// signs with the private key only it holds, and commits the seals with the
// watermark in one transaction: a crash repeats the round, never loses it.
import type { KeyObject } from "node:crypto";
import pg from "pg";
import { loopPool, startBackgroundLoop, type BackgroundLoop } from "../db/background-loop.ts";
import type { Logger } from "../log.ts";
import { sealHash, type SealFields } from "./canonical.ts";
import { signSeal } from "./keys.ts";

export interface SigningKey {
  key: KeyObject;
  keyId: string;
}

/** The newest seal of a tenant: what a tenant keeps outside the database. */
export interface SealHead {
  tenantId: string;
  seq: string;
  sealHash: string;
}

export interface SealingResult {
  /** Rounds run (0 when another sealer held the lock). */
  rounds: number;
  /** Seals made (re-seals included). */
  seals: number;
  /** Entries sealed. */
  entries: number;
  /** Re-seals of rounds that journaled maintenance changed. */
  reseals: number;
  /** The tenants' newest seals after this run, for those sealed now. */
  heads: SealHead[];
  /** Another sealer held the lock: nothing was done. */
  busy: boolean;
}

/** One round's width in transaction ids: the first rounds of a long history go in batches. */
export const SEAL_ROUND_XIDS = 1_000_000;

interface StagedSeal {
  tenant_id: string;
  seq: string;
  from_xid: string;
  to_xid: string;
  sealed_through_xid: string;
  entry_count: number;
  first_id: string | null;
  last_id: string | null;
  occurred_from_micros: string | null;
  occurred_to_micros: string | null;
  merkle_root: string;
  previous_hash: string | null;
  supersedes: string | null;
  reason: string | null;
  key_id_used: string;
  sealed_at_micros: string;
  seal_hash: string;
}

export function stagedSealFields(s: StagedSeal): SealFields {
  return {
    tenantId: s.tenant_id,
    seq: s.seq,
    fromXid: s.from_xid,
    toXid: s.to_xid,
    sealedThroughXid: s.sealed_through_xid,
    entryCount: String(s.entry_count),
    firstId: s.first_id,
    lastId: s.last_id,
    occurredFromMicros: s.occurred_from_micros,
    occurredToMicros: s.occurred_to_micros,
    merkleRoot: s.merkle_root,
    previousHash: s.previous_hash,
    supersedes: s.supersedes,
    reason: s.reason,
    keyId: s.key_id_used,
    sealedAtMicros: s.sealed_at_micros,
  };
}

/**
 * Runs one sealing round in its own transaction. Returns null when another
 * sealer holds the round's lock; `more` when the horizon is further than one
 * round's width (a long history: call again).
 */
export async function sealRound(client: pg.ClientBase, signing: SigningKey, roundXids = SEAL_ROUND_XIDS) {
  const started = new Date();
  await client.query("begin");
  try {
    const { rows: round } = await client.query<{ from_xid: string | null; to_xid: string | null; horizon: string }>(
      "select r.from_xid, r.to_xid, audit_private.current_horizon()::text as horizon from audit_private.begin_round('seals', $1) r",
      [roundXids],
    );
    const { from_xid: fromXid, to_xid: toXid, horizon } = round[0]!;
    if (fromXid === null || toXid === null) {
      await client.query("rollback");
      return null;
    }
    const { rows: staged } = await client.query<StagedSeal>("select * from audit_private.stage_seals($1, $2, $3)", [fromXid, toXid, signing.keyId]);
    const signatures = staged.map((s) => {
      const hash = sealHash(stagedSealFields(s));
      if (hash !== s.seal_hash) {
        // The database and this process disagree on the canonical form: signing
        // would vouch for bytes nobody can verify offline.
        throw new Error(`seal ${s.seq} of tenant ${s.tenant_id}: the database computed hash ${s.seal_hash}, this sealer ${hash}; not signing`);
      }
      return { tenant_id: s.tenant_id, seq: s.seq, seal_hash: hash, signature: signSeal(hash, signing.key) };
    });
    if (signatures.length > 0) await client.query("select audit_private.commit_seals($1::jsonb)", [JSON.stringify(signatures)]);
    const entries = staged.filter((s) => s.supersedes === null).reduce((n, s) => n + s.entry_count, 0);
    await client.query("select audit_private.end_round('seals', $1, $2, $3)", [toXid, entries, started]);
    await client.query("commit");
    // the newest seal of each tenant sealed now (staged in chain order)
    const heads = new Map<string, SealHead>();
    for (const s of staged) heads.set(s.tenant_id, { tenantId: s.tenant_id, seq: s.seq, sealHash: s.seal_hash });
    return {
      seals: staged.length,
      reseals: staged.filter((s) => s.supersedes !== null).length,
      entries,
      heads: [...heads.values()],
      more: BigInt(toXid) < BigInt(horizon),
    };
  } catch (err) {
    await client.query("rollback").catch(() => undefined);
    throw err;
  }
}

/** Seals every due round (a long history in several), as `npm run seal` and the server do. */
export async function sealDueRounds(client: pg.ClientBase, signing: SigningKey, options: { roundXids?: number; maxRounds?: number } = {}): Promise<SealingResult> {
  const result: SealingResult = { rounds: 0, seals: 0, entries: 0, reseals: 0, heads: [], busy: false };
  const heads = new Map<string, SealHead>();
  const maxRounds = options.maxRounds ?? 10_000;
  for (;;) {
    const round = await sealRound(client, signing, options.roundXids);
    if (round === null) {
      result.busy = result.rounds === 0;
      break;
    }
    result.rounds++;
    result.seals += round.seals;
    result.entries += round.entries;
    result.reseals += round.reseals;
    for (const h of round.heads) heads.set(h.tenantId, h);
    if (!round.more || result.rounds >= maxRounds) break;
  }
  result.heads = [...heads.values()].sort((a, b) => a.tenantId.localeCompare(b.tenantId));
  return result;
}

/** Every tenant's newest seal (for `npm run seal` to print, and to anchor outside). */
export async function sealHeads(client: pg.ClientBase): Promise<SealHead[]> {
  const { rows } = await client.query<{ tenant_id: string; seq: string; seal_hash: string }>(
    `select distinct on (s.tenant_id) s.tenant_id, s.seq::text, s.seal_hash
       from audit.seals s order by s.tenant_id, s.seq desc`,
  );
  return rows.map((r) => ({ tenantId: r.tenant_id, seq: r.seq, sealHash: r.seal_hash }));
}

export interface SealingLoopOptions {
  /** The owner's connection: sealing writes audit.seals and the consumer's watermark. */
  connectionString: string;
  signing: SigningKey;
  intervalMs: number;
  logger: Logger;
  /** Called after a round that sealed something (e.g. to verify). */
  onSealed?: (result: SealingResult) => void;
}

export type SealingLoop = BackgroundLoop<SealingResult>;

/** Seals every due round now and then every intervalMs, one run at a time, in the background. */
export function startSealing(options: SealingLoopOptions): SealingLoop {
  const log = options.logger.child({ component: "sealing" });
  const pool = loopPool({ connectionString: options.connectionString, intervalMs: options.intervalMs, name: "sealing", statementTimeoutMs: 600_000, log });
  const run = async (): Promise<SealingResult | null> => {
    const client = await pool.connect();
    try {
      const started = performance.now();
      const result = await sealDueRounds(client, options.signing);
      const ms = Math.round(performance.now() - started);
      if (result.busy) log.debug("another sealer holds the lock; skipped");
      else if (result.seals > 0) log.info({ seals: result.seals, reseals: result.reseals, entries: result.entries, rounds: result.rounds, ms }, "sealed");
      else log.debug({ ms }, "sealing round: nothing new");
      if (result.seals > 0) options.onSealed?.(result);
      return result;
    } finally {
      client.release();
    }
  };
  return startBackgroundLoop({ intervalMs: options.intervalMs, log, failure: "sealing failed", run, onStop: () => pool.end() });
}
