// The admin's token lives in this tab's sessionStorage only: never in the URL
// (it would leak into history, logs and shared links), never in localStorage
// (it would outlive the tab).

const KEY = "audit-trail.token";

export interface TokenClaims {
  sub?: string;
  tenant_id?: string;
  account_id?: string;
  role?: string;
  exp?: number;
  name?: string;
  email?: string;
}

export interface Session {
  token: string;
  /** Decoded for display and an early expiry check only; the server verifies the token. */
  claims: TokenClaims;
}

export function decodeClaims(token: string): TokenClaims | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      Array.from(atob(base64), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""),
    );
    const claims: unknown = JSON.parse(json);
    return typeof claims === "object" && claims !== null ? (claims as TokenClaims) : null;
  } catch {
    return null;
  }
}

export function isExpired(claims: TokenClaims, now = Date.now()): boolean {
  return typeof claims.exp === "number" && claims.exp * 1000 <= now;
}

export function loadSession(): Session | null {
  const token = sessionStorage.getItem(KEY);
  if (!token) return null;
  const claims = decodeClaims(token);
  return claims ? { token, claims } : null;
}

export function saveSession(token: string): Session | null {
  const trimmed = token.trim().replace(/^Bearer\s+/i, "");
  const claims = decodeClaims(trimmed);
  if (!claims) return null;
  sessionStorage.setItem(KEY, trimmed);
  return { token: trimmed, claims };
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}
