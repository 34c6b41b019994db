// Domains over text keep the GraphQL type String. PostGraphile gives every
// domain a scalar of its own (audit.actor_type would become `ActorType`),
// which would break clients that declare their variables as String. The
// domain is a database-side rule (migration 000010 moved actor_type's CHECK
// into one because a domain's constraint is planned once per session, a
// table's at every audited statement); the API contract stays a string.
import "postgraphile";

export const TextDomainsAsStringPlugin: GraphileConfig.Plugin = {
  name: "TextDomainsAsStringPlugin",
  description: "Exposes domains over text (not enum domains) as String instead of a scalar of their own.",
  version: "1.0.0",
  schema: {
    hooks: {
      init: {
        // before PostGraphile registers a scalar per domain, and after the
        // enum-table domains have claimed theirs
        before: ["PgCodecsPlugin"],
        after: ["PgEnumDomainsPlugin"],
        callback(_, build) {
          const { TYPES } = build.dataplanPg;
          for (const codec of Object.values(build.input.pgRegistry.pgCodecs)) {
            if (codec.domainOfCodec !== TYPES.text || build.hasGraphQLTypeForPgCodec(codec)) continue;
            build.setGraphQLTypeForPgCodec(codec, ["input", "output"], "String");
          }
          return _;
        },
      },
    },
  },
};
