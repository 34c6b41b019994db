// The export's file without a database: CSV, JSON Lines and the batches' SQL.
import { describe, expect, test } from "vitest";
import { csvHeader, csvLine, exportBatchQuery, jsonLine, neutralizeFormula, restoreFormula, type ExportRow } from "../../../src/server/routes/export-file.ts";

const USER = "0b7c2e52-8f7e-4a55-9d6c-1f3b7b0f2a11";

// The JSON columns as the batch query reads them: PostgreSQL's jsonb text.
const row: ExportRow = {
  id: "42", occurredAt: "2026-03-10T12:00:00.123456Z", tenantId: USER, accountId: null, actorType: "user", actorId: USER,
  actorEmail: "=HYPERLINK(\"x\")", actorName: "Ada, \"the\" Admin\nline 2", action: "update", resourceType: "settings",
  entityId: "-1", entityLabel: "+rpa.password", event: "settings.updated", description: "Settings updated",
  oldValues: '{"value": {"note": "a,b", "password": "[redacted]"}}', newValues: null, context: '{"ip": "1.2.3.4", "amount": 1.50, "big": 12345678901234567890}',
  transactionId: "7",
};

describe("export", () => {
  test("CSV follows RFC 4180 and keeps formulas from spreadsheets", () => {
    expect(csvHeader()).toBe("id,occurredAt,tenantId,accountId,actorType,actorId,actorEmail,actorName,action,resourceType,entityId,entityLabel,event,description,oldValues,newValues,context,transactionId\r\n");
    const line = csvLine(row);
    expect(line.endsWith("\r\n")).toBe(true);
    expect(line).toContain(`,"'=HYPERLINK(""x"")","Ada, ""the"" Admin\nline 2",`);
    expect(line).toContain(`,'-1,'+rpa.password,`);
    // the jsonb text as PostgreSQL wrote it, quoted as a cell
    expect(line).toContain(`,"{""value"": {""note"": ""a,b"", ""password"": ""[redacted]""}}",,"{""ip"": ""1.2.3.4"", ""amount"": 1.50, ""big"": 12345678901234567890}",7\r\n`);
    expect(neutralizeFormula("@SUM(A1)")).toBe("'@SUM(A1)");
    expect(neutralizeFormula("ada@example.test")).toBe("ada@example.test");
    // an apostrophe before a formula start gets one more, so that the change can be undone exactly
    expect(neutralizeFormula("'=x")).toBe("''=x");
    expect(neutralizeFormula("'plain")).toBe("'plain");
    for (const value of ["=1+1", "'=x", "''@y", "'plain", "plain", "", "-", "'"]) expect(restoreFormula(neutralizeFormula(value))).toBe(value);
    // an empty string is a quoted empty cell, a null an empty one
    expect(csvLine({ ...row, actorName: "", entityLabel: null })).toContain(`,"'=HYPERLINK(""x"")","",update,settings,'-1,,settings.updated,`);
  });

  test("JSON Lines: one object per line with the API's field names, the jsonb text spliced in verbatim", () => {
    const line = jsonLine(row);
    expect(line.endsWith("\n")).toBe(true);
    expect(line.slice(0, -1)).not.toContain("\n");
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(Object.keys(row));
    expect(parsed).toEqual({
      ...row, oldValues: JSON.parse(row.oldValues!), newValues: null, context: JSON.parse(row.context!),
    });
    // numbers exactly as stored, not as JSON.stringify would write them
    expect(line).toContain(`"context":{"ip": "1.2.3.4", "amount": 1.50, "big": 12345678901234567890},`);
    expect(line).toContain(`"oldValues":{"value": {"note": "a,b", "password": "[redacted]"}},"newValues":null,`);
  });

  test("batches are keyset pages in the list's order, with the filters as parameters", () => {
    const q = exportBatchQuery({ action: "member.removed", resourceType: null, actorId: USER, entityId: "e'; drop", entityLabel: "50%_off", from: "2026-01-01T00:00:00.000Z", to: null },
      { occurredAt: "2026-02-01T00:00:00.000001Z", id: "99" }, 500);
    expect(q.text).toContain("l.event = $2");
    // a label prefix is literal: starts_with, not LIKE (no % or _ patterns)
    expect(q.text).toContain("starts_with(lower(l.entity_label), lower($5))");
    expect(q.text).toContain("(l.occurred_at, l.id) < ($6::timestamptz, $7::bigint)");
    expect(q.text).toMatch(/order by l\.occurred_at desc, l\.id desc\s+limit \$8/);
    expect(q.text).not.toContain("drop");
    expect(q.values).toEqual(["2026-01-01T00:00:00.000Z", "member.removed", USER, "e'; drop", "50%_off", "2026-02-01T00:00:00.000001Z", "99", 500]);
  });
});
