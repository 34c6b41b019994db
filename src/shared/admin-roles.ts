// The two kinds of admin, and their titles as people read them (the page's
// identity and demo buttons, the demo's printed tokens).
export const ADMIN_ROLES = ["tenant_admin", "account_admin"] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

export const ROLE_TITLES: Readonly<Record<AdminRole, string>> = {
  tenant_admin: "Tenant admin",
  account_admin: "Account admin",
};

export function isAdminRole(role: unknown): role is AdminRole {
  return typeof role === "string" && (ADMIN_ROLES as readonly string[]).includes(role);
}
