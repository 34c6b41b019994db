// Tamper evidence in the API: what the smart tags (exposure.ts) cannot say.
//
// - `sealStatus`: audit.seal_status()'s record as the type `SealStatus`
//   (not `SealStatusRecord`), its fields described (the newest seal's hash
//   is what a tenant keeps outside the database).
// - `seals(filter: { seq: { greaterThanOrEqualTo: "10", lessThan: "20" } })`:
//   a range of seal numbers. BigInt filters elsewhere only offer equality
//   (filters.ts); a seal's number is its tenant's primary key, so a range is
//   an index range.
// - The order of the two connections: seals newest first by seq, a tenant's
//   verifications newest first by id. Neither takes an orderBy.
//
// Row-level security decides what is seen: a tenant admin its tenant's seals
// and verifications, an account admin none (the status, which is the
// tenant's, comes from a security definer function that reads the token's
// tenant). A seal's number is unique within its tenant: the only tenant an
// admin of the API sees, so seq alone is a unique order and the cursor a
// keyset position (input-scalars.ts checks it as [digest, seq]).
import "postgraphile";
import type { PgCondition, PgResource, PgSelectStep } from "postgraphile/@dataplan/pg";
import { SafeError, type ConnectionStep } from "postgraphile/grafast";
import type { GraphQLInputFieldConfig } from "postgraphile/graphql";
import { sql } from "postgraphile/pg-sql2";
import { wrapPlans } from "postgraphile/utils";
import { qualifiedName } from "./exposure.ts";

/** The GraphQL type of audit.seal_status()'s record. */
export const SEAL_STATUS_TYPE = "SealStatus";

/** The seq filter on SealFilter, and its input type. */
export const SEAL_SEQ_FILTER = { field: "seq", type: "SealSeqFilter" } as const;

const SEQ_OPERATORS = {
  equalTo: { op: sql`=`, description: "The seal with this number." },
  greaterThan: { op: sql`>`, description: "Seals numbered above this." },
  greaterThanOrEqualTo: { op: sql`>=`, description: "Seals numbered this or above." },
  lessThan: { op: sql`<`, description: "Seals numbered below this." },
  lessThanOrEqualTo: { op: sql`<=`, description: "Seals numbered this or below." },
} as const;

const SEAL_STATUS_FIELDS: Record<string, string> = {
  tenantId: "Your tenant: the seal chain this status is about.",
  sealedUpTo:
    "Every entry committed before this time is sealed: when the sealer's last round ran (a round seals every tenant). " +
    "Null until the sealer has run.",
  sealCount: "How many seals your tenant's chain has.",
  newestSeq: "The number (seq) of your tenant's newest seal; null while it has none.",
  newestSealHash:
    "The hash (sha256, hex) of your tenant's newest seal. Keep it, with its number, outside the database " +
    "(a ticket, a document store, a printout): it anchors your log's seal chain, so that a later verification can " +
    "show that nothing sealed up to it was changed, removed or re-sealed, even by someone able to rewrite the whole database. " +
    "Null while there is no seal.",
  newestSealedAt: "When your tenant's newest seal was made.",
  lastVerifiedAt: "When your tenant's seals were last verified; null if they never were.",
  lastVerifiedBy: 'Who ran the last verification: "npm run verify" or "server".',
  lastVerificationFindings:
    'The last verification\'s findings: how many of each status other than ok, e.g. {"modified": 2, "chain_broken": 1}; ' +
    "{} when the log matched its seals. Statuses: modified, missing, inserted, chain_broken, bad_signature, unsealed, and maintenance (journaled changes: not tampering).",
  lastVerificationSignaturesChecked:
    "Whether the last verification checked the seals' Ed25519 signatures with trusted public keys (`npm run verify` does; the database's own check cannot).",
};

const BIGINT = /^-?\d{1,19}$/;

/** A table's resource by its schema-qualified name. */
function tableResource(build: GraphileBuild.Build, name: string): PgResource | undefined {
  return Object.values(build.input.pgRegistry.pgResources).find(
    (r) => !r.parameters && !r.isVirtual && qualifiedName(r) === name,
  ) as PgResource | undefined;
}

// (ConnectionStep's type parameters do not matter here)
type AnyConnection = ConnectionStep<any, any, any, any, any, PgSelectStep<PgResource>>;

export const SealsPlugin: GraphileConfig.Plugin = {
  name: "SealsPlugin",
  description: "Tamper evidence: the SealStatus type and its descriptions, and the seq range filter of seals.",
  version: "1.0.0",
  after: ["PgConnectionArgFilterPlugin", "PgConnectionArgFilterAttributesPlugin", "PgConnectionArgFilterLogicalOperatorsPlugin", "FilterInputPlugin"],
  inflection: {
    replace: {
      functionRecordReturnCodecName(previous, _options, details) {
        const { pgProc } = details;
        if (pgProc.proname === "seal_status" && pgProc.getNamespace()?.nspname === "audit") return SEAL_STATUS_TYPE;
        return previous!.call(this, details);
      },
    },
  },
  schema: {
    hooks: {
      init(_, build) {
        build.registerInputObjectType(
          SEAL_SEQ_FILTER.type,
          {},
          () => ({
            description: "A range of seal numbers (seq, from 1 in each tenant's chain); the operators given must all hold.",
            fields: () =>
              Object.fromEntries(
                Object.entries(SEQ_OPERATORS).map(([name, { description }]) => [
                  name,
                  // (a null bound is refused by filter-input.ts, like any null inside a filter)
                  { description, type: build.getInputTypeByName("BigInt") },
                ]),
              ),
          }),
          "SealsPlugin: the seq filter",
        );
        return _;
      },

      GraphQLInputObjectType_fields(fields, build, context) {
        const { isPgConnectionFilter, pgCodec } = context.scope;
        const seals = tableResource(build, "audit.seals");
        if (!isPgConnectionFilter || !seals || pgCodec !== seals.codec) return fields;
        const field: GraphQLInputFieldConfig = {
          description: "Seals by number: a range, or one seal.",
          type: build.getInputTypeByName(SEAL_SEQ_FILTER.type),
          extensions: {
            grafast: {
              apply(condition: PgCondition, value: Record<string, unknown> | null) {
                // (null and {} are refused earlier, by filter-input.ts)
                for (const [name, bound] of Object.entries(value ?? {})) {
                  if (bound === undefined) continue;
                  const operator = SEQ_OPERATORS[name as keyof typeof SEQ_OPERATORS];
                  if (!operator || typeof bound !== "string" || !BIGINT.test(bound)) {
                    throw new SafeError(`seq.${name} must be a seal number.`, { code: "INVALID_BIGINT" });
                  }
                  condition.where(sql`${condition.alias}.seq ${operator.op} ${sql.value(bound)}::bigint`);
                }
              },
            },
          },
        };
        return build.extend(fields, { [SEAL_SEQ_FILTER.field]: field }, "SealsPlugin: seq on SealFilter");
      },

      GraphQLObjectType_fields_field(field, _build, context) {
        if (context.Self.name !== SEAL_STATUS_TYPE) return field;
        const description = SEAL_STATUS_FIELDS[context.scope.fieldName];
        return description ? { ...field, description } : field;
      },
    },
  },
};

/** Seals newest first by number; verifications newest first by id. */
export const SealOrderPlugin = wrapPlans(
  {
    Query: {
      seals(plan) {
        const $connection = plan() as unknown as AnyConnection;
        const $seals = $connection.getSubplan();
        $seals.orderBy({ attribute: "seq", direction: "DESC" });
        $seals.setOrderIsUnique(); // within the one tenant row-level security shows
        return $connection as never;
      },
      sealVerifications(plan) {
        const $connection = plan() as unknown as AnyConnection;
        const $verifications = $connection.getSubplan();
        $verifications.orderBy({ attribute: "id", direction: "DESC" });
        $verifications.setOrderIsUnique();
        return $connection as never;
      },
    },
  },
  { name: "SealOrderPlugin" },
);
