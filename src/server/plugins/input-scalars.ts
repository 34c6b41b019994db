// Scalars as the API reads them from clients: Datetime, BigInt, UUID and
// Cursor values are checked when a request's literals and variables are
// read, before any SQL, and a bad one is a client error with its own code.
// PostGraphile passes Datetime, BigInt and Cursor values through as text,
// so "2026-02-30", "12abc" or a forged cursor would reach PostgreSQL and
// come back as a database error, masked and logged as a server fault.
import "postgraphile";
import { GraphQLError, Kind, print, type GraphQLScalarLiteralParser, type GraphQLScalarValueParser, type ValueNode } from "postgraphile/graphql";
import { ISO_DATETIME_EXAMPLE, isIsoDateTime } from "../iso-datetime.ts";

const BIGINT_MIN = -(2n ** 63n);
const BIGINT_MAX = 2n ** 63n - 1n;
const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** Reads a client's value as text, or null when it is not acceptable. */
type Reader = (value: unknown) => string | null;

interface InputScalar {
  read: Reader;
  code: string;
  message: string;
}

function readBigInt(value: unknown): string | null {
  const text = typeof value === "number" && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== "string" || !/^-?\d{1,19}$/.test(text)) return null;
  const n = BigInt(text);
  return n >= BIGINT_MIN && n <= BIGINT_MAX ? text : null;
}

/**
 * A cursor of the API's connections: base64 of the JSON array [order
 * digest, timestamp, id] (auditLogs and an alert's entries by occurred_at,
 * securityAlerts by detected_at, then id: ordering.ts), or [order digest,
 * id] (a webhook endpoint's deliveries, by id). Its shape and values are
 * checked here; whether the digest matches the requested order is checked by
 * @dataplan/pg.
 */
function readCursor(value: unknown): string | null {
  if (typeof value !== "string" || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return null;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(value, "base64").toString("utf8"));
  } catch {
    return null;
  }
  if (!Array.isArray(decoded) || typeof decoded[0] !== "string") return null;
  if (decoded.length === 3) return isIsoDateTime(decoded[1]) && readBigInt(decoded[2]) !== null ? value : null;
  if (decoded.length === 2) return readBigInt(decoded[1]) !== null ? value : null;
  return null;
}

/** The checked scalars, by GraphQL name. */
export const INPUT_SCALARS: Record<string, InputScalar> = {
  Datetime: {
    read: (value) => (isIsoDateTime(value) ? value : null),
    code: "INVALID_DATETIME",
    message: `Datetime values must be ISO 8601 date-times such as "${ISO_DATETIME_EXAMPLE}" (a date, or a date and time with an optional UTC offset; without one, UTC).`,
  },
  BigInt: {
    read: readBigInt,
    code: "INVALID_BIGINT",
    message: "BigInt values must be whole numbers between -9223372036854775808 and 9223372036854775807, written as strings.",
  },
  UUID: {
    read: (value) => (typeof value === "string" && UUID.test(value) ? value : null),
    code: "INVALID_UUID",
    message: 'UUID values must be 32 hexadecimal digits, optionally with hyphens ("0b7c2e52-8f7e-4a55-9d6c-1f3b7b0f2a11").',
  },
  Cursor: {
    read: readCursor,
    code: "INVALID_CURSOR",
    message: "Invalid cursor: pass pageInfo.endCursor of an earlier page of the same query (same orderBy), or null.",
  },
};

function preview(ast: ValueNode): string {
  const text = print(ast);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export const InputScalarsPlugin: GraphileConfig.Plugin = {
  name: "InputScalarsPlugin",
  description: "Checks Datetime, BigInt, UUID and Cursor input values before any SQL, as client errors with codes.",
  version: "1.0.0",
  schema: {
    hooks: {
      GraphQLScalarType(config) {
        const scalar = INPUT_SCALARS[config.name];
        if (!scalar) return config;
        const { code, message } = scalar;
        const parseValue: GraphQLScalarValueParser<string> = (value) => {
          const text = scalar.read(value);
          // (graphql-js prefixes the variable, the path and the value)
          if (text === null) throw new GraphQLError(message, { extensions: { code } });
          return text;
        };
        const parseLiteral: GraphQLScalarLiteralParser<string> = (ast) => {
          const text = ast.kind === Kind.STRING || ast.kind === Kind.INT ? scalar.read(ast.value) : null;
          if (text === null) throw new GraphQLError(`${message} Got ${preview(ast)}.`, { nodes: ast, extensions: { code } });
          return text;
        };
        return { ...config, parseValue, parseLiteral };
      },
    },
  },
};
