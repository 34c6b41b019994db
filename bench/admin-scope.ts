// An admin's scope on a bench connection, exactly as the API sets it for a
// request: the transaction-local settings of src/server/auth.ts
// scopePgSettings (the admin kind's role from SCOPE_ROLES, the claims in
// jwt.claims.*, TimeZone, statement_timeout), applied with set_config in one
// statement like PostGraphile's pgSettings. The connection must log in as
// audit_authenticator and be inside a transaction.
import type pg from "pg";
import { scopePgSettings, type AuditClaims } from "../src/server/auth.ts";

export async function setAdminScope(client: pg.ClientBase, claims: Omit<AuditClaims, "expiresAt">, statementTimeoutMs: number): Promise<void> {
  const settings = scopePgSettings({ ...claims, expiresAt: new Date(Date.now() + 3_600_000) }, { statementTimeoutMs });
  await client.query("select set_config(s.key, s.value, true) from json_each_text($1::json) s", [JSON.stringify(settings)]);
}
