// What clients learn when something fails: messages written for them, never
// SQL, constraint names, stack traces or values from other tenants. The
// details go to the log under an id the client can quote.
import { randomBytes } from "node:crypto";
import { isSafeError } from "postgraphile/grafast";
import { GraphQLError } from "postgraphile/graphql";
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

export function makeMaskError(logger: Logger): (error: GraphQLError) => GraphQLError {
  const log = logger.child({ component: "graphql" });
  return (error) => {
    const original = error.originalError;
    // Parse and validation errors, and errors GraphQL itself raised about the
    // request (e.g. a wrong variable type), are about the client's document.
    if (!original || original instanceof GraphQLError) return error;
    const rebuild = (message: string, extensions: Record<string, unknown>) =>
      new GraphQLError(message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, extensions });
    if (isSafeError(original)) {
      return rebuild(original.message, { ...(original.extensions ?? {}) });
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
