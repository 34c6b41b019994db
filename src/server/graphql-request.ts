// POST /graphql bodies, checked before authentication and before grafserv:
// one JSON object per request with a GraphQL document that parses, of at
// most MAX_SELECTIONS selections, nested at most MAX_DOCUMENT_DEPTH
// (selections) and MAX_INPUT_DEPTH (inputs) levels, and no NUL characters.
// grafserv would answer the same mistakes without an error code (batches,
// other content types, syntax errors, validation aborted), as a crash (a
// document nested too deeply for the parser's recursion), or let them reach
// PostgreSQL, which fails with a database error on a NUL in text and on
// jsonb nested too deeply: masked and logged as a server fault.
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { BREAK, GraphQLError, Kind, parse, visit, type ASTVisitFn, type ASTNode, type DocumentNode } from "postgraphile/graphql";
import { sendError, type HttpError } from "./http-errors.ts";

/** Tokens of a document; the page's largest query has about 150, GraphiQL's introspection about 300. */
export const MAX_TOKENS = 5_000;
/** Nesting of input objects and lists (arguments, variables, JSON values). */
export const MAX_INPUT_DEPTH = 32;
/**
 * Nesting of selections, far above any useful query (GRAPHQL_MAX_DEPTH,
 * 10 by default, refuses less with a precise message) and far below what
 * overflows grafserv's own parse of the same document.
 */
export const MAX_DOCUMENT_DEPTH = 100;
/**
 * Selections (fields, fragment spreads, inline fragments) of a document. The
 * largest useful query has about 100; past a few hundred, graphql-js's check
 * of overlapping fields runs out of its budget and answers a bare
 * "Validation aborted." without a code.
 */
export const MAX_SELECTIONS = 500;

const bad = (message: string, code = "BAD_REQUEST", status = 400): HttpError => ({ status, message, code });
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

const TOO_DEEP = bad(`Arguments and variables may nest objects and lists at most ${MAX_INPUT_DEPTH} levels deep.`, "INPUT_TOO_DEEP");
const DOCUMENT_TOO_DEEP = bad(`The GraphQL document nests selections more than ${MAX_DOCUMENT_DEPTH} levels deep.`, "QUERY_TOO_DEEP");
const TOO_MANY_SELECTIONS = bad(
  `The GraphQL document has more than ${MAX_SELECTIONS} selections (fields and fragments); split it into several requests.`,
  "QUERY_TOO_EXPENSIVE",
);
const NUL = bad("Strings in the request must not contain NUL characters (\\u0000): PostgreSQL text cannot hold them.", "INVALID_CHARACTER");

/** The first problem of a JSON value (variables): too deep, or a NUL in a string or key. */
function jsonProblem(value: unknown, depth: number): HttpError | null {
  if (typeof value === "string") return value.includes("\0") ? NUL : null;
  if (typeof value !== "object" || value === null) return null;
  if (depth >= MAX_INPUT_DEPTH) return TOO_DEEP;
  for (const [key, item] of Object.entries(value)) {
    const problem = key.includes("\0") ? NUL : jsonProblem(item, depth + 1);
    if (problem) return problem;
  }
  return null;
}

/** The first problem of a document: too many selections, selections or literal values nested too deeply, a NUL in a string. */
function documentProblem(document: DocumentNode): HttpError | null {
  let problem: HttpError | null = null;
  const refuse = (p: HttpError) => {
    problem = p;
    return BREAK;
  };
  // (visit() walks iteratively: no recursion however deep the document)
  const nesting = (max: number, error: HttpError) => {
    let depth = 0;
    const enter: ASTVisitFn<ASTNode> = () => (++depth > max ? refuse(error) : undefined);
    return { enter, leave: () => void depth-- };
  };
  const inputs = nesting(MAX_INPUT_DEPTH, TOO_DEEP);
  let selections = 0;
  const count = () => (++selections > MAX_SELECTIONS ? refuse(TOO_MANY_SELECTIONS) : undefined);
  visit(document, {
    [Kind.FIELD]: count,
    [Kind.FRAGMENT_SPREAD]: count,
    [Kind.INLINE_FRAGMENT]: count,
    [Kind.SELECTION_SET]: nesting(MAX_DOCUMENT_DEPTH, DOCUMENT_TOO_DEEP),
    [Kind.OBJECT]: inputs,
    [Kind.LIST]: inputs,
    [Kind.STRING]: (node) => (node.value.includes("\0") ? refuse(NUL) : undefined),
  });
  return problem;
}

function parseDocument(query: string): { document: DocumentNode } | { error: HttpError; locations?: unknown } {
  try {
    return { document: parse(query, { maxTokens: MAX_TOKENS }) };
  } catch (err) {
    if (err instanceof GraphQLError) return { error: bad(err.message, "GRAPHQL_PARSE_FAILED"), locations: err.locations };
    // The parser recurses per nesting level: a deep enough document overflows the stack.
    if (err instanceof RangeError) return { error: bad("The GraphQL document is nested too deeply to parse.", "QUERY_TOO_DEEP") };
    throw err;
  }
}

/** What is wrong with a request to POST /graphql, or null. */
export function graphqlRequestProblem(req: Request): { error: HttpError; locations?: unknown } | null {
  if (!req.is("application/json")) {
    const type = req.headers["content-type"];
    return { error: bad(`Send GraphQL requests as JSON (Content-Type: application/json)${type ? `, not ${JSON.stringify(type)}` : ""}.`, "UNSUPPORTED_MEDIA_TYPE", 415) };
  }
  if (req.headers.accept && !req.accepts(["application/graphql-response+json", "application/json"])) {
    return { error: bad("GraphQL answers are JSON: accept application/json or application/graphql-response+json.", "NOT_ACCEPTABLE", 406) };
  }
  const body: unknown = req.body;
  if (Array.isArray(body)) return { error: bad("Batched requests (a JSON array) are not supported: send one operation per request.", "BATCH_NOT_SUPPORTED") };
  if (!isObject(body)) return { error: bad("The request body must be a JSON object with a query.") };
  const { query, operationName, variables, extensions } = body;
  if (typeof query !== "string" || query.trim() === "") return { error: bad("The body's query must be a GraphQL document, as a string.") };
  if (operationName != null && typeof operationName !== "string") return { error: bad("The body's operationName must be a string when given.") };
  if (variables != null && !isObject(variables)) return { error: bad("The body's variables must be a JSON object when given (not a string or a list).") };
  if (extensions != null && !isObject(extensions)) return { error: bad("The body's extensions must be a JSON object when given.") };
  const problem = documentCheck(query);
  if (problem) return problem;
  const variablesProblem = jsonProblem(variables, 0);
  return variablesProblem ? { error: variablesProblem } : null;
}

type DocumentVerdict = { error: HttpError; locations?: unknown } | null;

/** What is wrong with a document (parsed and walked), or null. */
function uncachedDocumentCheck(query: string): DocumentVerdict {
  const parsed = parseDocument(query);
  if ("error" in parsed) return parsed;
  const problem = documentProblem(parsed.document);
  return problem ? { error: problem } : null;
}

/**
 * Clients send the same few documents again and again (the page's queries,
 * with variables), so the verdict on a document's text is kept: parsing and
 * walking it again cost ~0.2 ms a request. Bounded in entries and in the
 * size of the documents it keeps (the oldest entry goes first).
 */
const VERDICTS_MAX = 200;
const VERDICT_MAX_QUERY_LENGTH = 10_000;
const verdicts = new Map<string, DocumentVerdict>();

function documentCheck(query: string): DocumentVerdict {
  const known = verdicts.get(query);
  if (known !== undefined) return known;
  const verdict = uncachedDocumentCheck(query);
  if (query.length <= VERDICT_MAX_QUERY_LENGTH) {
    if (verdicts.size >= VERDICTS_MAX) verdicts.delete(verdicts.keys().next().value!);
    verdicts.set(query, verdict);
  }
  return verdict;
}

/** Express middleware for POST /graphql, after express.json. */
export const checkGraphQLRequest: RequestHandler = (req: Request, res: Response, next: NextFunction) => {
  const problem = graphqlRequestProblem(req);
  if (!problem) {
    next();
    return;
  }
  sendError(res, problem.error, problem.locations ? { locations: problem.locations } : {});
};
