// Admin tokens: `Authorization: Bearer <JWT>`, verified with one pinned
// algorithm, mapped to the claims the database's scope functions read. The
// PostgreSQL role is never taken from the token as such: the verified admin
// kind picks one of two fixed roles (audit_tenant_admin, audit_account_admin),
// whose row-level security policies read the claims (jwt.claims.* settings).
import { createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import { isAdminRole, type AdminRole } from "../shared/admin-roles.ts";

/** The verified identity of an admin. */
export interface AuditClaims {
  /** The admin's user id (`sub`). */
  userId: string;
  tenantId: string;
  role: AdminRole;
  /** The account of an account admin; null for tenant admins. */
  accountId: string | null;
  expiresAt: Date;
  /** The token's `email` and `name` claims, when it carries them: the admin as the access log names them. */
  email?: string;
  name?: string;
}

/** The claims that decide what an admin sees: all but the expiry. */
export type ScopeClaims = Omit<AuditClaims, "expiresAt">;

export type AuthErrorCode = "UNAUTHENTICATED" | "INVALID_TOKEN" | "TOKEN_EXPIRED" | "INVALID_CLAIMS";

/** A request without acceptable credentials: answered with HTTP 401 and no data. */
export class AuthError extends Error {
  override name = "AuthError";
  readonly statusCode = 401;
  readonly code: AuthErrorCode;
  constructor(code: AuthErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export interface TokenVerifierOptions {
  /** HS256 with a shared secret, or RS256 with a public key. Nothing else is accepted. */
  algorithm: "HS256" | "RS256";
  key: string | KeyObject;
  /** When set, tokens must carry this `iss`. */
  issuer?: string | null;
  /** When set, tokens must carry this `aud`. */
  audience?: string | null;
  /** Accepted clock skew between the token issuer and this server. */
  clockToleranceSeconds?: number;
}

export type TokenVerifier = (token: string) => AuditClaims;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;

/**
 * The token of an `Authorization: Bearer <token>` header; null when the
 * header is absent. A present header of another shape is an error rather
 * than "anonymous", so that a client's mistake is reported, not ignored.
 */
export function bearerToken(header: string | string[] | undefined): string | null {
  if (header === undefined || header === "") return null;
  const value = Array.isArray(header) ? header.join(",") : header;
  const match = /^Bearer[ ]+([A-Za-z0-9\-_.~+/]+=*)\s*$/i.exec(value);
  if (!match) {
    throw new AuthError("INVALID_TOKEN", 'The Authorization header must be "Bearer <token>"');
  }
  return match[1]!;
}

function invalid(message: string): never {
  throw new AuthError("INVALID_CLAIMS", `Invalid token: ${message}`);
}

function uuidClaim(payload: jwt.JwtPayload, name: string): string {
  const value: unknown = payload[name];
  if (value === undefined || value === null || value === "") invalid(`the ${name} claim is required`);
  if (typeof value !== "string" || !UUID.test(value)) invalid(`the ${name} claim must be a UUID`);
  return value.toLowerCase();
}

/**
 * An optional display claim (email, name): kept when it is a short plain
 * string, ignored otherwise. It only names the admin in the access log, so
 * an odd value is no reason to refuse the token.
 */
function displayClaim(payload: jwt.JwtPayload, name: string, maxLength: number): string | undefined {
  const value: unknown = payload[name];
  if (typeof value !== "string") return undefined;
  const text = value.trim();
  return text !== "" && text.length <= maxLength && !/[\u0000-\u001f\u007f]/.test(text) ? text : undefined;
}

/** Checks the claims of a token whose signature and times are already verified. */
export function claimsFromPayload(payload: string | jwt.JwtPayload): AuditClaims {
  if (typeof payload !== "object" || payload === null) invalid("the payload must be a JSON object of claims");
  if (typeof payload.exp !== "number") invalid("the exp (expiry) claim is required");
  const userId = uuidClaim(payload, "sub");
  const tenantId = uuidClaim(payload, "tenant_id");
  const role: unknown = payload.role;
  // The value is not echoed: error messages never reflect token content.
  if (!isAdminRole(role)) {
    invalid('the role claim must be "tenant_admin" or "account_admin"');
  }
  let accountId: string | null = null;
  if (role === "account_admin") {
    accountId = uuidClaim(payload, "account_id");
  }
  const email = displayClaim(payload, "email", 320);
  const name = displayClaim(payload, "name", 200);
  return {
    userId, tenantId, role, accountId, expiresAt: new Date(payload.exp * 1000),
    ...(email === undefined ? {} : { email }), ...(name === undefined ? {} : { name }),
  };
}

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  // The key as a KeyObject, made once: given a string, jsonwebtoken makes one
  // per verification, and for a secret only after createPublicKey has failed
  // on it (an exception per request: ~0.5 ms).
  const key = typeof options.key !== "string" ? options.key
    : options.algorithm === "HS256" ? createSecretKey(Buffer.from(options.key, "utf8")) : createPublicKey(options.key);
  const verifyOptions: jwt.VerifyOptions & { complete?: false } = {
    algorithms: [options.algorithm],
    clockTolerance: options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS,
    ...(options.issuer ? { issuer: options.issuer } : {}),
    ...(options.audience ? { audience: options.audience } : {}),
  };
  return (token) => {
    let payload: string | jwt.JwtPayload;
    try {
      payload = jwt.verify(token, key, verifyOptions);
    } catch (err) {
      throw translateJwtError(err, options.algorithm);
    }
    return claimsFromPayload(payload);
  };
}

/** jsonwebtoken's errors, reworded for API clients (they never include the token). */
function translateJwtError(err: unknown, algorithm: string): AuthError {
  if (err instanceof jwt.TokenExpiredError) {
    return new AuthError("TOKEN_EXPIRED", `Token expired at ${err.expiredAt.toISOString()}`);
  }
  if (err instanceof jwt.NotBeforeError) {
    return new AuthError("INVALID_TOKEN", "Token is not valid yet (nbf is in the future)");
  }
  const message = err instanceof Error ? err.message : "";
  if (/jwt malformed|invalid token|unexpected token|jwt must be/i.test(message)) {
    return new AuthError("INVALID_TOKEN", "Invalid token: not a well-formed JWT");
  }
  if (/signature is required|invalid algorithm/i.test(message)) {
    return new AuthError("INVALID_TOKEN", `Invalid token: it must be signed with ${algorithm}`);
  }
  if (/invalid signature/i.test(message)) {
    return new AuthError("INVALID_TOKEN", "Invalid token: signature verification failed");
  }
  if (/audience invalid/i.test(message)) {
    return new AuthError("INVALID_TOKEN", "Invalid token: wrong audience (aud)");
  }
  if (/issuer invalid/i.test(message)) {
    return new AuthError("INVALID_TOKEN", "Invalid token: wrong issuer (iss)");
  }
  return new AuthError("INVALID_TOKEN", "Invalid token");
}

/**
 * The PostgreSQL role of each kind of admin. Each has one plain policy on
 * audit.log, so that the tenant (and the account) are index conditions.
 */
export const SCOPE_ROLES: Readonly<Record<AdminRole, string>> = {
  tenant_admin: "audit_tenant_admin",
  account_admin: "audit_account_admin",
};
/** The role of a request without claims: the group of both, which sees no rows. */
export const VIEWER_ROLE = "audit_viewer";

export interface ScopeSettingsOptions {
  statementTimeoutMs: number;
}

/**
 * Transaction-local settings of an API request: the admin kind's role, UTC,
 * a statement timeout and the claims (with the token's email and name). Without claims (an anonymous
 * introspection request) the role is audit_viewer, which RLS shows no rows.
 */
export function scopePgSettings(claims: ScopeClaims | null, options: ScopeSettingsOptions): Record<string, string> {
  const settings: Record<string, string> = {
    role: claims ? SCOPE_ROLES[claims.role] : VIEWER_ROLE,
    // date_trunc() of timestamptz, and timestamps in results, follow TimeZone.
    TimeZone: "UTC",
    statement_timeout: `${options.statementTimeoutMs}ms`,
  };
  // Every claim is always set ('' when absent), so nothing can linger.
  settings["jwt.claims.sub"] = claims?.userId ?? "";
  settings["jwt.claims.tenant_id"] = claims?.tenantId ?? "";
  settings["jwt.claims.role"] = claims?.role ?? "";
  settings["jwt.claims.account_id"] = claims?.accountId ?? "";
  // The admin as the database names them in what they do (the API's
  // mutations record admin events; the access log its reads).
  settings["jwt.claims.email"] = claims?.email ?? "";
  settings["jwt.claims.name"] = claims?.name ?? "";
  return settings;
}
