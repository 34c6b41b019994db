// Aggregates of the audit log (on top of @graphile/pg-aggregates):
// - `count` on `aggregates` and on each `groupedAggregates` group;
// - `distinctCount`, and `earliest` / `latest` of timestamps, and nothing
//   else (sums and averages of ids mean nothing);
// - time buckets in UTC whatever the session or server time zone:
//   OCCURRED_AT_TRUNCATED_TO_HOUR / _DAY (date_trunc with an explicit zone),
//   OCCURRED_AT_HOUR_OF_DAY (0-23) and OCCURRED_AT_DAY_OF_WEEK (ISO, 1 =
//   Monday) for spotting activity outside business hours;
// - no grouping by the raw timestamp (one group per entry);
// - groups in the order of their keys (ascending, nulls last), whatever plan
//   PostgreSQL picks or wherever the counts come from (the log or the
//   rollups: rollup-aggregates.ts).
import "postgraphile";
import type { AggregateGroupBySpec, AggregateSpec } from "@graphile/pg-aggregates";
// (its inflectors' types are declared here, not in the package's index)
import type {} from "@graphile/pg-aggregates/dist/InflectionPlugin.js";
import { TYPES, type PgCodecAttribute, type PgGroupSpec, type PgSelectQueryBuilder, type PgSelectSingleStep, type PgSelectStep } from "postgraphile/@dataplan/pg";
import type { FieldArg } from "postgraphile/grafast";
import { sql } from "postgraphile/pg-sql2";

declare global {
  namespace GraphileBuild {
    interface AggregateSpecIds {
      earliest: true;
      latest: true;
    }
  }
}

type Codec = Parameters<AggregateGroupBySpec["isSuitableType"]>[0];
const isTimestamptz = (codec: Codec) => codec === TYPES.timestamptz;

const utcTruncation = (id: string, unit: "hour" | "day"): AggregateGroupBySpec => ({
  id,
  isSuitableType: isTimestamptz,
  sqlWrap: (frag) => sql`date_trunc(${sql.literal(unit)}, ${frag}, 'UTC')`,
  sqlWrapCodec: () => TYPES.timestamptz,
});

const utcField = (id: string, sqlWrap: AggregateGroupBySpec["sqlWrap"]): AggregateGroupBySpec => ({
  id,
  isSuitableType: isTimestamptz,
  sqlWrap,
  sqlWrapCodec: () => TYPES.int,
});

export const GROUP_BY_SPECS: AggregateGroupBySpec[] = [
  utcTruncation("truncated-to-hour", "hour"),
  utcTruncation("truncated-to-day", "day"),
  utcField("hour-of-day", (frag) => sql`extract(hour from ${frag} at time zone 'UTC')::int`),
  utcField("day-of-week", (frag) => sql`extract(isodow from ${frag} at time zone 'UTC')::int`),
];

const timestampExtreme = (id: "earliest" | "latest", sqlAggregateWrap: AggregateSpec["sqlAggregateWrap"]): AggregateSpec => ({
  id,
  humanLabel: id,
  HumanLabel: id[0]!.toUpperCase() + id.slice(1),
  isSuitableType: isTimestamptz,
  sqlAggregateWrap,
});

/** A group spec as the groupBy enum's callbacks pass it: direct, or built from `sql`. */
type GroupArg = Parameters<PgSelectQueryBuilder["groupBy"]>[0];

/**
 * The query builder the groupBy enum's callbacks see: each key they group by
 * also orders the groups, in the order the keys were given.
 */
function orderedGroups(queryBuilder: PgSelectQueryBuilder): Pick<PgSelectQueryBuilder, "alias" | "groupBy"> {
  const order = (group: PgGroupSpec) => ({ fragment: group.fragment, codec: group.codec, direction: "ASC" as const, nulls: "LAST" as const });
  return {
    alias: queryBuilder.alias,
    groupBy(group: GroupArg) {
      queryBuilder.groupBy(group);
      if (typeof group === "function") queryBuilder.orderBy((s) => order((group as (s: typeof sql) => PgGroupSpec)(s)));
      else queryBuilder.orderBy(order(group as PgGroupSpec));
    },
  };
}

export const AuditAggregatesPlugin: GraphileConfig.Plugin = {
  name: "AuditAggregatesPlugin",
  description: "count, distinctCount, earliest/latest; UTC time buckets; no raw timestamp groups.",
  version: "1.0.0",
  after: ["PgAggregatesSpecsPlugin", "PgAggregatesAddGroupByAggregateEnumValuesForAttributesPlugin", "PgAggregatesAddAggregateTypesPlugin"],
  schema: {
    hooks: {
      build(build) {
        const specs = build.pgAggregateSpecs!.filter((s) => s.id === "distinctCount");
        specs.push(
          timestampExtreme("earliest", (frag) => sql`min(${frag})`),
          timestampExtreme("latest", (frag) => sql`max(${frag})`),
        );
        // The arrays are shared with pg-aggregates: replace their contents.
        build.pgAggregateSpecs!.splice(0, build.pgAggregateSpecs!.length, ...specs);
        build.pgAggregateGroupBySpecs!.splice(0, build.pgAggregateGroupBySpecs!.length, ...GROUP_BY_SPECS);
        return build;
      },
      GraphQLObjectType_fields_field_args(args, _build, context) {
        const { isConnectionType, fieldName } = context.scope;
        if (!isConnectionType || fieldName !== "groupedAggregates" || !args.groupBy) return args;
        return {
          ...args,
          groupBy: {
            ...args.groupBy,
            // pg-aggregates' own applies the keys as given (`input.apply($select)`).
            applyPlan(_parent: unknown, $select: PgSelectStep, input: FieldArg) {
              input.apply($select, orderedGroups);
            },
          },
        } as typeof args;
      },
      GraphQLEnumType_values(values, build, context) {
        const { isPgAggregateGroupEnum, pgTypeResource: resource } = context.scope;
        if (!isPgAggregateGroupEnum || !resource?.codec.attributes) return values;
        // A raw timestamp has microseconds: one group per entry. Its UTC hour or day are the keys.
        const raw = new Set(
          Object.entries<PgCodecAttribute>(resource.codec.attributes)
            .filter(([, attribute]) => isTimestamptz(attribute.codec))
            .map(([attributeName]) => build.inflection.aggregateGroupByAttributeEnum({ resource, attributeName })),
        );
        return Object.fromEntries(Object.entries(values).filter(([name]) => !raw.has(name)));
      },
      GraphQLObjectType_fields(fields, build, context) {
        if (!context.scope.isPgAggregateContainerType) return fields;
        const { GraphQLNonNull } = build.graphql;
        const BigInt = build.getTypeByName("BigInt");
        if (!BigInt || !build.graphql.isOutputType(BigInt)) return fields;
        return build.extend(
          fields,
          {
            count: {
              description: "The number of matching entries (of this group, for groupedAggregates).",
              type: new GraphQLNonNull(BigInt),
              plan($aggregates: PgSelectSingleStep) {
                return $aggregates.select(sql`count(*)`, TYPES.bigint);
              },
            },
          },
          "AuditAggregatesPlugin adding count",
        );
      },
    },
  },
};
