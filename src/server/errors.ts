// What clients learn when something fails: messages written for them, never
// SQL, constraint names, stack traces or values from other tenants. The
// details go to the log under an id the client can quote. Every error
// carries a stable `extensions.code` (docs/errors.md lists them).
import "postgraphile";
import { randomBytes } from "node:crypto";
import { isSafeError, type SafeError } from "postgraphile/grafast";
import { GraphQLError, type ValidationRule } from "postgraphile/graphql";
import type { Logger } from "../log.ts";
import { domainValues, valueList } from "./plugins/domain-values.ts";

const errorId = () => randomBytes(6).toString("hex");

/** PostgreSQL conditions a client can act on, reworded. */
const DATABASE_ERRORS: Record<string, { message: string; code: string }> = {
  "57014": {
    message: "The query took longer than the server allows; narrow it, for example with an occurredAt range.",
    code: "QUERY_TIMEOUT",
  },
  "42501": { message: "Permission denied.", code: "FORBIDDEN" },
  "53300": { message: "The server is busy; try again shortly.", code: "SERVICE_UNAVAILABLE" },
};

/**
 * Errors the database's own functions raise for the client (RAISE in the
 * security monitoring functions, db/schema/security-monitoring.sql): their message is
 * written for the admin ("updateDetectorSettings: only tenant admins can
 * change the detector settings; ...") and reaches them as it is, with a code
 * by SQLSTATE. The same SQLSTATE raised by PostgreSQL itself ("permission
 * denied for table ...") names internals and stays masked.
 */
export const RAISED_ERRORS: Record<string, string> = {
  "42501": "FORBIDDEN",
  P0002: "NOT_FOUND",
  "22023": "BAD_USER_INPUT",
  "54000": "LIMIT_EXCEEDED",
};

/** Whether a database error was raised by a PL/pgSQL RAISE (its innermost context line says so). */
export function raisedByFunction(error: { where?: unknown }): boolean {
  if (typeof error.where !== "string") return false;
  const innermost = error.where.split("\n", 1)[0] ?? "";
  return /^PL\/pgSQL function .+ line \d+ at RAISE$/.test(innermost);
}

/** Codes of the request-level GraphQL errors that graphql-js raises without one. */
export const GRAPHQL_ERROR_CODES = {
  /** The document does not fit the schema (unknown field or operator, wrong literal type...). */
  validation: "GRAPHQL_VALIDATION_FAILED",
  /** The variables do not fit their types, or the operation to run is unclear. */
  userInput: "BAD_USER_INPUT",
} as const;

const hasCode = (error: GraphQLError) => typeof error.extensions?.code === "string";

const withCode = (error: GraphQLError, code: string) =>
  new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: { ...error.extensions, code },
  });

/**
 * The code of a SafeError (a message Grafast and @dataplan/pg mean for the
 * client). Theirs come without one: a bad or foreign cursor, a timeout.
 */
function safeErrorCode(error: SafeError): string {
  const code = error.extensions?.code;
  if (typeof code === "string") return code;
  if (/cursor/i.test(error.message)) return "INVALID_CURSOR";
  if (/timeout|too long/i.test(error.message)) return "QUERY_TIMEOUT";
  return "BAD_REQUEST";
}

export function makeMaskError(logger: Logger): (error: GraphQLError) => GraphQLError {
  const log = logger.child({ component: "graphql" });
  return (error) => {
    const original = error.originalError;
    // Errors GraphQL itself raised about the request: its variables (a value
    // of the wrong type), the operation to run. A field's error (with a path)
    // is left as it is.
    if (!original || original instanceof GraphQLError) {
      return hasCode(error) || error.path ? error : withCode(error, GRAPHQL_ERROR_CODES.userInput);
    }
    const rebuild = (message: string, extensions: Record<string, unknown>) =>
      new GraphQLError(message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, extensions });
    if (isSafeError(original)) {
      return rebuild(original.message, { ...(original.extensions ?? {}), code: safeErrorCode(original) });
    }
    const pgCode = (original as { code?: unknown }).code;
    // A value outside a domain (a check violation on the domain's type):
    // GraphQL requests only read, so the value came from the request.
    // domain-values.ts refuses those before SQL; this is the second line,
    // for a path it does not see.
    const { schema, dataType } = original as { schema?: unknown; dataType?: unknown };
    const domain = pgCode === "23514" ? domainValues(schema, dataType) : undefined;
    if (domain) {
      log.info({ pgCode, dataType, path: error.path }, "a value outside a domain reached the database");
      return rebuild(`A value in the filter or condition is not ${domain.noun}: the values are ${valueList(domain)}.`, { code: domain.code });
    }
    const raisedCode = typeof pgCode === "string" ? RAISED_ERRORS[pgCode] : undefined;
    if (raisedCode && raisedByFunction(original as { where?: unknown }) && original.message) {
      log.info({ pgCode, path: error.path, message: original.message }, "a database function refused the request");
      return rebuild(original.message, { code: raisedCode });
    }
    const known = typeof pgCode === "string" ? DATABASE_ERRORS[pgCode] : undefined;
    const id = errorId();
    if (known) {
      log.warn({ errorId: id, pgCode, err: original, path: error.path }, "GraphQL request failed in the database");
      return rebuild(known.message, { code: known.code, errorId: id });
    }
    log.error({ errorId: id, err: original, path: error.path }, "GraphQL request failed");
    return rebuild(`An unexpected error occurred; quote reference ${id} to the operators.`, { code: "INTERNAL_SERVER_ERROR", errorId: id });
  };
}

/**
 * graphql-js's validate() takes this many errors (its default maxErrors,
 * which grafserv keeps); one more makes it stop and append "Too many
 * validation errors..." itself, without a code and out of any rule's reach.
 */
export const MAX_VALIDATION_ERRORS = 100;

export const TOO_MANY_VALIDATION_ERRORS =
  `Too many validation errors: only the first ${MAX_VALIDATION_ERRORS - 1} are listed. Fix them and send the document again.`;

/**
 * A validation rule that gives every validation error without a code
 * GRAPHQL_VALIDATION_FAILED (grafserv returns them as they are, not
 * through maskError). All rules of a validation share one context, so this
 * one, run first, wraps its reportError for the others. It passes on at
 * most MAX_VALIDATION_ERRORS - 1 errors, then one coded error saying there
 * were more, and drops the rest, so graphql-js never reaches its limit and
 * never adds its own error without a code. (The rest of the document is
 * still visited, silently: documents are small, graphql-request.ts caps them.)
 */
export const codeValidationErrors: ValidationRule = (context) => {
  const report = context.reportError.bind(context);
  let reported = 0;
  context.reportError = (error) => {
    reported++;
    if (reported < MAX_VALIDATION_ERRORS) report(hasCode(error) ? error : withCode(error, GRAPHQL_ERROR_CODES.validation));
    else if (reported === MAX_VALIDATION_ERRORS) {
      report(new GraphQLError(TOO_MANY_VALIDATION_ERRORS, { extensions: { code: GRAPHQL_ERROR_CODES.validation } }));
    }
  };
  return {};
};

export const ValidationErrorCodesPlugin: GraphileConfig.Plugin = {
  name: "ValidationErrorCodesPlugin",
  description: "GraphQL validation errors carry extensions.code GRAPHQL_VALIDATION_FAILED.",
  version: "1.0.0",
  grafserv: {
    middleware: {
      setPreset(next, event) {
        event.validationRules.unshift(codeValidationErrors);
        return next();
      },
    },
  },
};
