// Express middleware that turns `Authorization: Bearer <JWT>` into verified
// claims before a request reaches GraphQL (or any other admin route). A bad
// or missing token ends the request here: HTTP 401, a GraphQL-shaped error
// body, no data, and nothing from the token echoed back.
import type { IncomingMessage } from "node:http";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { Kind, parse, type DocumentNode, type SelectionSetNode } from "postgraphile/graphql";
import type { Logger } from "../log.ts";
import { AuthError, bearerToken, type AuditClaims, type TokenVerifier } from "./auth.ts";

const claimsByRequest = new WeakMap<IncomingMessage, AuditClaims>();

/** The verified claims of a request that passed `authenticate`, else null. */
export function claimsOf(req: IncomingMessage): AuditClaims | null {
  return claimsByRequest.get(req) ?? null;
}

export function sendAuthError(res: Response, err: AuthError): void {
  // RFC 6750: a missing token gets a bare challenge, a bad one says why.
  const challenge =
    err.code === "UNAUTHENTICATED"
      ? 'Bearer realm="audit-trail"'
      : `Bearer realm="audit-trail", error="invalid_token", error_description="${err.message.replace(/["\\]/g, "'")}"`;
  res
    .status(err.statusCode)
    .set("WWW-Authenticate", challenge)
    .set("Cache-Control", "no-store")
    .json({ errors: [{ message: err.message, extensions: { code: err.code } }] });
}

/** Verifies the request's token; throws AuthError (missing token included). */
export function verifyRequest(req: IncomingMessage, verify: TokenVerifier): AuditClaims {
  const token = bearerToken(req.headers.authorization);
  if (token === null) {
    throw new AuthError("UNAUTHENTICATED", "Authentication required: send an Authorization: Bearer <token> header");
  }
  const claims = verify(token);
  claimsByRequest.set(req, claims);
  return claims;
}

function onlyIntrospection(document: DocumentNode, operationName: unknown): boolean {
  const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  const operation =
    typeof operationName === "string" && operationName !== ""
      ? operations.find((o) => o.name?.value === operationName)
      : operations.length === 1
        ? operations[0]
        : undefined;
  if (!operation || operation.operation !== "query") return false;
  const fragments = new Map(
    document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d] as const] : [])),
  );
  const seen = new Set<string>();
  const check = (set: SelectionSetNode): boolean =>
    set.selections.every((s) => {
      if (s.kind === Kind.FIELD) return s.name.value.startsWith("__");
      if (s.kind === Kind.INLINE_FRAGMENT) return check(s.selectionSet);
      const fragment = fragments.get(s.name.value);
      if (!fragment || seen.has(s.name.value)) return false;
      seen.add(s.name.value);
      return check(fragment.selectionSet);
    });
  return check(operation.selectionSet);
}

/** True for a JSON GraphQL request that reads only the schema (__schema, __type, __typename). */
export function isIntrospectionOnly(body: unknown): boolean {
  if (typeof body !== "object" || body === null) return false;
  const { query, operationName } = body as { query?: unknown; operationName?: unknown };
  if (typeof query !== "string" || query.length === 0) return false;
  try {
    return onlyIntrospection(parse(query, { maxTokens: 10_000 }), operationName);
  } catch {
    return false;
  }
}

export interface AuthenticateOptions {
  verify: TokenVerifier;
  /**
   * Let requests without a token read the schema (never data), so that
   * GraphiQL can load its documentation before a token is pasted. Only
   * meaningful while introspection is on.
   */
  allowAnonymousIntrospection: boolean;
  logger: Logger;
}

/**
 * For admin routes: a valid token, then claimsOf(req) has the claims;
 * otherwise 401 (logged, with the reason but nothing of the token).
 */
export function authenticateAdmin(verify: TokenVerifier, logger: Logger): RequestHandler {
  const log = logger.child({ component: "auth" });
  return (req: Request, res: Response, next: NextFunction) => {
    try {
      verifyRequest(req, verify);
      next();
    } catch (err) {
      if (!(err instanceof AuthError)) {
        next(err);
        return;
      }
      log.info({ code: err.code, reason: err.message, ip: req.ip, path: req.path }, "request refused: authentication failed");
      sendAuthError(res, err);
    }
  };
}

/** For POST /graphql: anonymous introspection at most (when allowed), else as authenticateAdmin. */
export function authenticateGraphQL(options: AuthenticateOptions): RequestHandler {
  const admin = authenticateAdmin(options.verify, options.logger);
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.headers.authorization === undefined && options.allowAnonymousIntrospection && isIntrospectionOnly(req.body)) {
      next();
      return;
    }
    admin(req, res, next);
  };
}
