// The SQL truth of an admin's scope, read as the owner (who sees every
// entry) with the scope written out as an explicit WHERE, independent of
// the policies under test; and the "atoms" (uuids and markers) of each
// scope's entries, to search any answer for another scope's data.
import type pg from "pg";
import type { AuditEntry } from "../../../src/shared/entry.ts";
import { ATOM_RE, type World } from "./world.ts";

/** What an admin may see: one tenant, or one account of it. `null`: nothing. */
export type Scope = { tenantId: string; accountId: string | null } | null;

/** Positional parameters of a WHERE being built. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown, cast?: string): string {
    this.values.push(value);
    return `$${this.values.length}${cast ? `::${cast}` : ""}`;
  }
}

/** The scope as an explicit condition on audit.log (alias `l` unless told). */
export function scopeWhere(scope: Scope, p: Params, alias = "l"): string {
  if (scope === null) return "false";
  const tenant = `${alias}.tenant_id = ${p.add(scope.tenantId, "uuid")}`;
  return scope.accountId === null ? tenant : `${tenant} and ${alias}.account_id = ${p.add(scope.accountId, "uuid")}`;
}

/** An instant as `YYYY-MM-DDTHH:MM:SS.ffffff` in UTC: how both sides are compared. */
export const CANONICAL_INSTANT = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')`;

/** The API's (or the export's) rendering of an instant, in the same canonical form; other values unchanged. */
export function canonicalInstant(value: string): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?(Z|\+00:00|\+00)$/.exec(value);
  if (!m) throw new Error(`not a UTC instant: ${value}`);
  return `${m[1]}.${(m[2] ?? "").padEnd(6, "0")}`;
}

/** One entry as the API names its fields (AuditEntry), `occurredAt` in the canonical form above. */
export type TruthRow = AuditEntry;

export const TRUTH_COLUMNS = `l.id::text as "id", ${CANONICAL_INSTANT("l.occurred_at")} as "occurredAt",
  l.tenant_id::text as "tenantId", l.account_id::text as "accountId", l.actor_type as "actorType",
  l.actor_id::text as "actorId", l.actor_email as "actorEmail", l.actor_name as "actorName", l.action,
  l.resource_type as "resourceType", l.entity_id as "entityId", l.entity_label as "entityLabel", l.event, audit.log_description(l) as "description",
  l.old_values as "oldValues", l.new_values as "newValues", l.context, l.transaction_id::text as "transactionId"`;

export type Order = "DESC" | "ASC";

/** Entries of `scope` matching `where` (built on `p`), in the API's order. */
export async function truthRows(owner: pg.Pool, scope: Scope, where: (p: Params) => string, order: Order = "DESC"): Promise<TruthRow[]> {
  const p = new Params();
  const condition = `(${scopeWhere(scope, p)}) and (${where(p)})`;
  const { rows } = await owner.query<TruthRow>(
    `select ${TRUTH_COLUMNS} from audit.log l where ${condition} order by l.occurred_at ${order}, l.id ${order}`,
    p.values,
  );
  return rows;
}

/** One value of `expression` over the scope's matching entries (an aggregate). */
export async function truthValue<T>(owner: pg.Pool, scope: Scope, expression: string, where: (p: Params) => string): Promise<T> {
  const p = new Params();
  const { rows } = await owner.query<{ v: T }>(
    `select ${expression} as v from audit.log l where (${scopeWhere(scope, p)}) and (${where(p)})`,
    p.values,
  );
  return rows[0]!.v;
}

/** Atoms (uuids, markers) of a text, lower case. */
export function atomsOf(text: string): Set<string> {
  return new Set((text.match(ATOM_RE) ?? []).map((a) => a.toLowerCase()));
}

/**
 * Per scope, the atoms that occur only outside it: present in some entry the
 * scope does not cover, absent from every entry it does. An answer for the
 * scope that contains one (and did not get it from the request) leaks.
 */
export class Atoms {
  private readonly all = new Set<string>();
  private readonly byEntry: { tenantId: string; accountId: string | null; atoms: Set<string> }[] = [];
  private readonly cache = new Map<string, Set<string>>();

  static async read(owner: pg.Pool, world: World): Promise<Atoms> {
    const atoms = new Atoms();
    const { rows } = await owner.query<{ tenant_id: string; account_id: string | null; text: string }>(
      "select tenant_id::text, account_id::text, row_to_json(l)::text as text from audit.log l",
    );
    for (const r of rows) {
      const found = atomsOf(r.text);
      atoms.byEntry.push({ tenantId: r.tenant_id, accountId: r.account_id, atoms: found });
      for (const a of found) atoms.all.add(a);
    }
    // The business ids themselves, even of rows that no entry names.
    for (const t of world.tenants) for (const id of [t.id, ...t.accounts, ...t.users]) atoms.all.add(id);
    return atoms;
  }

  foreignTo(scope: Scope): Set<string> {
    const key = scopeKey(scope);
    let foreign = this.cache.get(key);
    if (!foreign) {
      const visible = new Set<string>();
      for (const e of this.byEntry) {
        if (scope !== null && e.tenantId === scope.tenantId && (scope.accountId === null || e.accountId === scope.accountId)) {
          for (const a of e.atoms) visible.add(a);
        }
      }
      foreign = new Set([...this.all].filter((a) => !visible.has(a)));
      this.cache.set(key, foreign);
    }
    return foreign;
  }

  /** Atoms of `answer` that belong only to other scopes and were not in the request. */
  leaks(scope: Scope, answer: string, request: string): string[] {
    const foreign = this.foreignTo(scope);
    const asked = atomsOf(request);
    return [...atomsOf(answer)].filter((a) => foreign.has(a) && !asked.has(a));
  }
}

/** Distinct values present in the whole log (every tenant): what filters pick from. */
export interface Vocabulary {
  tenantIds: string[];
  accountIds: string[];
  actorIds: string[];
  actorEmails: string[];
  actorTypes: string[];
  actions: string[];
  events: string[];
  resourceTypes: string[];
  entityIds: string[];
  entityLabels: string[];
  transactionIds: string[];
  /** Canonical instants of entries. */
  instants: string[];
  /** Single-key objects that some entry's old_values / new_values contain. */
  jsonPairs: Record<string, unknown>[];
  jsonKeys: string[];
}

/** The values of the entries of `scope` (every entry when undefined). */
export async function readVocabulary(owner: pg.Pool, scope?: Scope): Promise<Vocabulary> {
  const p = new Params();
  const where = scope === undefined ? "true" : scopeWhere(scope, p);
  const distinct = async (expression: string) =>
    (await owner.query<{ v: string }>(`select distinct ${expression} as v from audit.log l where ${where} and ${expression} is not null order by 1`, p.values))
      .rows.map((r) => r.v);
  const { rows: pairs } = await owner.query<{ pair: Record<string, unknown> }>(
    `select distinct jsonb_build_object(e.key, e.value) as pair
       from audit.log l, jsonb_each(coalesce(l.new_values, '{}') || coalesce(l.old_values, '{}')) e
      where ${where} and jsonb_typeof(e.value) in ('string', 'number', 'boolean') order by 1`,
    p.values,
  );
  return {
    tenantIds: await distinct("l.tenant_id::text"),
    accountIds: await distinct("l.account_id::text"),
    actorIds: await distinct("l.actor_id::text"),
    actorEmails: await distinct("l.actor_email"),
    actorTypes: await distinct("l.actor_type::text"),
    actions: await distinct("l.action"),
    events: await distinct("l.event"),
    resourceTypes: await distinct("l.resource_type"),
    entityIds: await distinct("l.entity_id"),
    entityLabels: await distinct("l.entity_label"),
    transactionIds: await distinct("l.transaction_id::text"),
    instants: await distinct(CANONICAL_INSTANT("l.occurred_at")),
    jsonPairs: pairs.map((r) => r.pair),
    jsonKeys: [...new Set(pairs.map((r) => Object.keys(r.pair)[0]!))],
  };
}

/**
 * Vocabularies to draw filter values from: the whole log's, and per real
 * scope one where the scope's own values come three times as often, so that
 * most filters match something (an exact answer is then worth checking)
 * while every filter may still name another scope's values.
 */
export class Vocabularies {
  readonly all: Vocabulary;
  private readonly byScope: Map<string, Vocabulary>;

  private constructor(all: Vocabulary, byScope: Map<string, Vocabulary>) {
    this.all = all;
    this.byScope = byScope;
  }

  static async read(owner: pg.Pool, world: World): Promise<Vocabularies> {
    const all = await readVocabulary(owner);
    const scopes: Scope[] = world.tenants.flatMap((t) => [
      { tenantId: t.id, accountId: null },
      ...t.accounts.map((accountId) => ({ tenantId: t.id, accountId })),
    ]);
    const byScope = new Map<string, Vocabulary>();
    for (const scope of scopes) {
      const own = await readVocabulary(owner, scope);
      const biased = Object.fromEntries(
        Object.entries(all).map(([key, values]: [string, unknown[]]) => {
          const mine = own[key as keyof Vocabulary] as unknown[];
          return [key, [...mine, ...mine, ...mine, ...values]];
        }),
      ) as unknown as Vocabulary;
      byScope.set(scopeKey(scope), biased);
    }
    return new Vocabularies(all, byScope);
  }

  /** The biased vocabulary of a scope; the whole log's for a scope that holds nothing. */
  for(scope: Scope): Vocabulary {
    return this.byScope.get(scopeKey(scope)) ?? this.all;
  }
}

export const scopeKey = (scope: Scope) => (scope === null ? "none" : `${scope.tenantId}/${scope.accountId ?? ""}`);
