// The page's pure modules: filters (URL ⇄ state ⇄ GraphQL / export) and the
// export's CSV, JSON Lines and SQL. No browser, no database.
import { describe, expect, test } from "vitest";
import {
  EMPTY_FILTERS, FilterError, filtersToParams, parseFilters, parseResolvedParams, resolveFilters, resolvedToParams, toGraphQLFilter,
} from "../../src/web/filters.ts";
import type { AuditEntry } from "../../src/web/entry.ts";
import { csvHeader, csvLine, exportBatchQuery, jsonLine, neutralizeFormula } from "../../src/web/export.ts";

const USER = "0b7c2e52-8f7e-4a55-9d6c-1f3b7b0f2a11";

describe("filters", () => {
  test("URL round trip; the default range is left out", () => {
    const f = { ...EMPTY_FILTERS, action: "member.removed", resourceType: "member", actorId: USER, entityId: "abc" };
    const params = filtersToParams(f);
    expect(params.toString()).toBe(`action=member.removed&resource=member&user=${USER}&entity=abc`);
    expect(parseFilters(params)).toEqual(f);
    expect(filtersToParams(EMPTY_FILTERS).toString()).toBe("");
  });

  test("hand-edited nonsense is dropped, not fatal", () => {
    const f = parseFilters(new URLSearchParams("action=DROP TABLE&resource=1&range=1y&user=nobody&from=yesterday"));
    expect(f).toEqual(EMPTY_FILTERS);
  });

  test("bounds without a range mean a custom range; custom bounds are normalised to ISO", () => {
    const f = parseFilters(new URLSearchParams("from=2026-01-01T00:00:00%2B01:00"));
    expect(f.range).toBe("custom");
    expect(f.from).toBe("2025-12-31T23:00:00.000Z");
    expect(f.to).toBeNull();
  });

  test("relative ranges are pinned to instants once, upper bound exclusive", () => {
    const now = new Date("2026-03-10T12:00:00.000Z");
    const r = resolveFilters({ ...EMPTY_FILTERS, range: "7d" }, now);
    expect(r.from).toBe("2026-03-03T12:00:00.000Z");
    expect(r.to).toBe("2026-03-10T12:00:00.001Z");
  });

  test("GraphQL filter: an event name filters the event, an action the action", () => {
    const base = { actorId: null, entityId: null, resourceType: null, from: null, to: null };
    expect(toGraphQLFilter({ ...base, action: "member.removed" })).toEqual({ event: { equalTo: "member.removed" } });
    expect(toGraphQLFilter({ ...base, action: "update", from: "a", to: "b" })).toEqual({
      action: { equalTo: "update" }, occurredAt: { greaterThanOrEqualTo: "a", lessThan: "b" },
    });
  });

  test("export parameters are strict", () => {
    const r = { action: "update", resourceType: "api_key", actorId: USER, entityId: "x,y", from: "2026-01-01T00:00:00.000Z", to: null };
    expect(parseResolvedParams(resolvedToParams(r))).toEqual(r);
    expect(() => parseResolvedParams(new URLSearchParams("user=bob"))).toThrow(FilterError);
    expect(() => parseResolvedParams(new URLSearchParams("from=soon"))).toThrow(/ISO 8601/);
    expect(() => parseResolvedParams(new URLSearchParams("tenant_id=x"))).toThrow(/unknown parameter/);
    expect(() => parseResolvedParams(new URLSearchParams("action=a;b"))).toThrow(FilterError);
  });
});

const row: AuditEntry = {
  id: "42", occurredAt: "2026-03-10T12:00:00.123456Z", tenantId: USER, accountId: null, actorType: "user", actorId: USER,
  actorEmail: "=HYPERLINK(\"x\")", actorName: "Ada, \"the\" Admin\nline 2", action: "update", resourceType: "settings",
  entityId: "-1", event: "settings.updated", description: "Settings updated",
  oldValues: { value: { password: "[redacted]", note: "a,b" } }, newValues: null, context: { ip: "1.2.3.4" }, transactionId: "7",
};

describe("export", () => {
  test("CSV follows RFC 4180 and keeps formulas from spreadsheets", () => {
    expect(csvHeader()).toBe("id,occurredAt,tenantId,accountId,actorType,actorId,actorEmail,actorName,action,resourceType,entityId,event,description,oldValues,newValues,context,transactionId\r\n");
    const line = csvLine(row);
    expect(line.endsWith("\r\n")).toBe(true);
    expect(line).toContain(`,"'=HYPERLINK(""x"")","Ada, ""the"" Admin\nline 2",`);
    expect(line).toContain(`,'-1,`);
    expect(line).toContain(`"{""value"":{""password"":""[redacted]"",""note"":""a,b""}}",,`);
    expect(neutralizeFormula("@SUM(A1)")).toBe("'@SUM(A1)");
    expect(neutralizeFormula("ada@example.test")).toBe("ada@example.test");
  });

  test("JSON Lines: one object per line with the API's field names", () => {
    const line = jsonLine(row);
    expect(line.endsWith("\n")).toBe(true);
    expect(line.slice(0, -1)).not.toContain("\n");
    expect(JSON.parse(line)).toEqual({ ...row });
  });

  test("batches are keyset pages in the list's order, with the filters as parameters", () => {
    const q = exportBatchQuery({ action: "member.removed", resourceType: null, actorId: USER, entityId: "e'; drop", from: "2026-01-01T00:00:00.000Z", to: null },
      { occurredAt: "2026-02-01T00:00:00.000001Z", id: "99" }, 500);
    expect(q.text).toContain("l.event = $2");
    expect(q.text).toContain("(l.occurred_at, l.id) < ($5::timestamptz, $6::bigint)");
    expect(q.text).toMatch(/order by l\.occurred_at desc, l\.id desc\s+limit \$7/);
    expect(q.text).not.toContain("drop");
    expect(q.values).toEqual(["2026-01-01T00:00:00.000Z", "member.removed", USER, "e'; drop", "2026-02-01T00:00:00.000001Z", "99", 500]);
  });
});
