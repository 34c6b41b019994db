// Ready-to-paste admin tokens for the demo tenant: one tenant admin, one
// account admin. Signed with the server's HS256 secret (the generated one in
// the embedded default), valid for a day; printed at start-up.
import jwt from "jsonwebtoken";
import { ROLE_TITLES } from "../shared/admin-roles.ts";
import type { DemoToken } from "../shared/demo-token.ts";
import { DEMO_ACCOUNT_ADMIN, DEMO_TENANT_ADMIN } from "./cast.ts";

export const DEMO_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;

export function signDemoTokens(secret: string, options: { issuer?: string | null; audience?: string | null } = {}): DemoToken[] {
  const sign = (claims: Record<string, string>) =>
    jwt.sign(claims, secret, {
      algorithm: "HS256",
      expiresIn: DEMO_TOKEN_LIFETIME_SECONDS,
      ...(options.issuer ? { issuer: options.issuer } : {}),
      ...(options.audience ? { audience: options.audience } : {}),
    });
  const tenantAdmin = { sub: DEMO_TENANT_ADMIN.person.id, tenant_id: DEMO_TENANT_ADMIN.tenant.id, role: "tenant_admin" };
  const accountAdmin = {
    sub: DEMO_ACCOUNT_ADMIN.person.id,
    tenant_id: DEMO_ACCOUNT_ADMIN.tenant.id,
    role: "account_admin",
    account_id: DEMO_ACCOUNT_ADMIN.account.id,
  };
  return [
    {
      label: ROLE_TITLES.tenant_admin,
      description: `${ROLE_TITLES.tenant_admin} of ${DEMO_TENANT_ADMIN.tenant.name} (${DEMO_TENANT_ADMIN.person.name}, ${DEMO_TENANT_ADMIN.person.email}): every account`,
      token: sign(tenantAdmin),
    },
    {
      label: ROLE_TITLES.account_admin,
      description: `${ROLE_TITLES.account_admin} of ${DEMO_ACCOUNT_ADMIN.tenant.name} / ${DEMO_ACCOUNT_ADMIN.account.name} (${DEMO_ACCOUNT_ADMIN.person.name}, ${DEMO_ACCOUNT_ADMIN.person.email}): that account only`,
      token: sign(accountAdmin),
    },
  ];
}

/** The block printed to the terminal (plain text, meant for people). */
export function formatDemoTokens(tokens: readonly DemoToken[], graphiqlUrl: string | null, pageUrl?: string): string {
  const lines = ["", `Demo tokens (valid ${DEMO_TOKEN_LIFETIME_SECONDS / 3600} hours; restart to get fresh ones):`, ""];
  for (const t of tokens) lines.push(`  ${t.description}`, `    ${t.token}`, "");
  if (pageUrl) {
    lines.push(`Open ${pageUrl}/ and click "${ROLE_TITLES.tenant_admin}" or "${ROLE_TITLES.account_admin}" to see the Audit Logs page.`);
  }
  if (graphiqlUrl) {
    lines.push(`Open ${graphiqlUrl}, then in the Headers tab paste:`, `  {"Authorization": "Bearer <one of the tokens above>"}`, "");
  }
  return lines.join("\n");
}
