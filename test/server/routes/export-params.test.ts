// The export's filter parameters: the page writes them, the server reads
// them back strictly.
import { describe, expect, test } from "vitest";
import { resolvedToParams } from "../../../src/browser/filter-state.ts";
import { FilterError, parseResolvedParams } from "../../../src/server/routes/export-params.ts";

const USER = "0b7c2e52-8f7e-4a55-9d6c-1f3b7b0f2a11";

describe("filters", () => {
  test("export parameters are strict", () => {
    const r = { action: "update", resourceType: "api_key", actorId: USER, entityId: "x,y", entityLabel: "Invoice 50%_& co", from: "2026-01-01T00:00:00.000Z", to: null, alertId: null };
    expect(parseResolvedParams(resolvedToParams(r))).toEqual(r);
    expect(parseResolvedParams(resolvedToParams({ ...r, entityLabel: null }))).toEqual({ ...r, entityLabel: null });
    // the page's alert filter (Open in Audit Logs) reaches the export too
    expect(parseResolvedParams(resolvedToParams({ ...r, alertId: "12" }))).toEqual({ ...r, alertId: "12" });
    expect(() => parseResolvedParams(new URLSearchParams("alert=12x"))).toThrow(/alert must be the id of a security alert/);
    expect(() => parseResolvedParams(new URLSearchParams({ label: "x".repeat(501) }))).toThrow(/label must be at most 500 characters/);
    expect(() => parseResolvedParams(new URLSearchParams({ label: "a\0b" }))).toThrow(/without NUL/);
    expect(() => parseResolvedParams(new URLSearchParams("user=bob"))).toThrow(FilterError);
    expect(() => parseResolvedParams(new URLSearchParams("from=soon"))).toThrow(/ISO 8601/);
    expect(() => parseResolvedParams(new URLSearchParams("tenant_id=x"))).toThrow(/unknown parameter/);
    expect(() => parseResolvedParams(new URLSearchParams("action=a;b"))).toThrow(FilterError);
  });
});
