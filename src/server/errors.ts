// What clients learn when something fails: messages written for them, never
// SQL, constraint names, stack traces or values from other tenants. The
// details go to the log under an id the client can quote. Every error
// carries a stable `extensions.code` (docs/errors.md lists them).
import "postgraphile";
import { randomBytes } from "node:crypto";
import { isSafeError, type SafeError } from "postgraphile/grafast";
import { GraphQLError, type ValidationRule } from "postgraphile/graphql";
import type { Logger } from "../log.ts";

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
 * A validation rule that gives every validation error without a code
 * GRAPHQL_VALIDATION_FAILED (grafserv returns them as they are, not
 * through maskError). All rules of a validation share one context, so this
 * one, run first, wraps its reportError for the others.
 */
export const codeValidationErrors: ValidationRule = (context) => {
  const report = context.reportError.bind(context);
  context.reportError = (error) => report(hasCode(error) ? error : withCode(error, GRAPHQL_ERROR_CODES.validation));
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
