// Field names of the API contract. A root collection is named after its type
// in the plural, without Relay's `all` prefix or a `List` suffix: `auditLogs`,
// `auditEvents` (the smart tags of exposure.ts name the types; each table has
// one root collection, so the names cannot collide). `id` stays `id` (Amber
// renames a column called id to rowId to leave room for Relay's global id,
// which this API does not use).
import "postgraphile";

export const AuditNamingPlugin: GraphileConfig.Plugin = {
  name: "AuditNamingPlugin",
  description: "Root field names auditLogs / auditEvents / activityCounts, and `id` instead of `rowId`.",
  version: "1.0.0",
  inflection: {
    replace: {
      _attributeName(previous, _options, details) {
        return previous!.call(this, { ...details, skipRowId: true });
      },
      // auditLogs, not allAuditLogs
      _allRows(_previous, _options, resource) {
        return this.camelCase(this.pluralize(this._singularizedResourceName(resource)));
      },
      // auditEvents, not auditEventsList
      allRowsList(_previous, _options, resource) {
        return this._allRows(resource);
      },
      // activityCounts, not activityCountsList (only list-returning functions
      // are exposed as lists: nothing to tell apart)
      customQueryListField(_previous, _options, details) {
        return this.customQueryField(details);
      },
    },
  },
};
