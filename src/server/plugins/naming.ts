// Field names of the API contract: `auditLogs` and `auditEvents` at the
// root, and `id` kept as `id` (Amber renames a column called id to rowId to
// leave room for Relay's global id, which this API does not use).
import "postgraphile";

const ROOT_FIELDS: Record<string, string> = {
  "audit.log": "auditLogs",
  "audit.events": "auditEvents",
};

function rootFieldName(resource: { extensions?: { pg?: { schemaName?: string; name?: string } } }): string | undefined {
  const pg = resource.extensions?.pg;
  return pg?.schemaName && pg.name ? ROOT_FIELDS[`${pg.schemaName}.${pg.name}`] : undefined;
}

export const AuditNamingPlugin: GraphileConfig.Plugin = {
  name: "AuditNamingPlugin",
  description: "Root field names auditLogs / auditEvents, and `id` instead of `rowId`.",
  version: "1.0.0",
  inflection: {
    replace: {
      _attributeName(previous, _options, details) {
        return previous!.call(this, { ...details, skipRowId: true });
      },
      allRowsConnection(previous, _options, resource) {
        return rootFieldName(resource) ?? previous!.call(this, resource);
      },
      allRowsList(previous, _options, resource) {
        return rootFieldName(resource) ?? previous!.call(this, resource);
      },
    },
  },
};
