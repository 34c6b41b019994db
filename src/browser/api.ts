// The page's only way to data: POST /graphql with the admin's bearer token.
// The database's row-level security decides what comes back.

export type ApiErrorKind = "unauthenticated" | "forbidden" | "network" | "server" | "request";

export class ApiError extends Error {
  override name = "ApiError";
  readonly kind: ApiErrorKind;
  readonly status: number | null;
  /** The server's error code (extensions.code), e.g. TOKEN_EXPIRED. */
  readonly code: string | null;
  constructor(kind: ApiErrorKind, message: string, status: number | null = null, code: string | null = null) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.code = code;
  }
}

interface GraphQLError {
  message: string;
  extensions?: { code?: string; [k: string]: unknown };
}

const AUTH_CODES = new Set(["UNAUTHENTICATED", "INVALID_TOKEN", "TOKEN_EXPIRED", "EXPIRED_TOKEN"]);
const FORBIDDEN_CODES = new Set(["FORBIDDEN", "INSUFFICIENT_SCOPE"]);

function classify(status: number, errors: GraphQLError[] | undefined): ApiError {
  const first = errors?.[0];
  const code = first?.extensions?.code;
  const message = first?.message ?? `The server answered ${status}`;
  const c = code ?? null;
  if (status === 401 || (code !== undefined && AUTH_CODES.has(code))) return new ApiError("unauthenticated", message, status, c);
  if (status === 403 || (code !== undefined && FORBIDDEN_CODES.has(code))) return new ApiError("forbidden", message, status, c);
  if (status >= 500) return new ApiError("server", message, status, c);
  return new ApiError("request", message, status, c);
}

export async function graphql<T>(query: string, variables: Record<string, unknown>, token: string, signal?: AbortSignal): Promise<T> {
  let response: Response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/graphql-response+json, application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
      signal,
    });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw new ApiError("network", "The server could not be reached. Check your connection and try again.");
  }
  let body: { data?: T | null; errors?: GraphQLError[] } | null = null;
  try {
    body = (await response.json()) as { data?: T | null; errors?: GraphQLError[] };
  } catch (err) {
    if (signal?.aborted) throw err;
    body = null;
  }
  if (!response.ok || !body || (body.errors && body.errors.length > 0) || !body.data) {
    throw classify(response.status, body?.errors);
  }
  return body.data;
}

export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === "AbortError";
}
