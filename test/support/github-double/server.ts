/**
 * The HTTP front of the GitHub double, reached as GitHub Enterprise Server would be: REST under
 * `/api/v3`, GraphQL at `POST /api/graphql`. Every request is matched and checked against
 * GitHub's description before a handler runs.
 *
 * Violations (recorded in `violations`, answered with an error): a route not in the description
 * (404) or not served here (404), an undeclared query parameter or a path/query value of the
 * wrong type (400), a body that fails the operation's schema or carries an undeclared top-level
 * field (422), a body that is not JSON (400), a GraphQL query that does not parse or validate
 * against GitHub's schema (200 with `errors`, as GitHub), a GraphQL execution error other than
 * NOT_FOUND, and any response of the double's own that does not match the description.
 *
 * Artifact downloads leave the API: the archive route answers 302 to `GET /_blobs/<token>` on a
 * second server (another port, so another origin, as GitHub's storage is), which needs no
 * credentials, serves the zip and is recorded as `GET /_blobs`.
 *
 * Not violations, because GitHub itself answers so: 401 for bad credentials, 404 for unknown
 * objects or repositories outside the token's installation, dispatch refusals (422/404), the
 * GHES refusal of keys GHES 3.19 does not know, and `failNext` answers.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { KeyObject } from "node:crypto";
import { installationFor, verifyAppJwt } from "./auth.js";
import { runGraphql } from "./graphql.js";
import { loadGhesBodyKeys, type MatchedOperation, type OpenApiChecker } from "./openapi-check.js";
import { handlers, ReplyError, type Reply } from "./rest.js";
import type { DoubleState } from "./state.js";

export interface RecordedRequest {
  method: string;
  /** The description's template, e.g. `POST /repos/{owner}/{repo}/issues/{issue_number}/comments`, or `POST /graphql`. */
  route: string;
  /** Path below `/api/v3` (`/graphql` for GraphQL, `/_blobs/<token>` for downloads from storage), without the query string. */
  path: string;
  query: Record<string, string>;
  body: unknown;
  status: number;
  at: number;
  /** Blob downloads only: whether the request carried an `Authorization` header (storage needs none). */
  withAuthorization?: boolean;
}

interface Failure {
  route: string;
  status: number;
  times: number;
  headers: Record<string, string>;
}

export const TOKEN_ROUTE = "POST /app/installations/{installation_id}/access_tokens";
export const DISPATCH_ROUTE = "POST /repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches";
export const GRAPHQL_ROUTE = "POST /graphql";
/** The route artifact downloads are recorded under (on the storage origin, outside `/api/v3`). */
export const BLOB_ROUTE = "GET /_blobs";

const DOCS = "https://docs.github.com/rest";

export interface ServerParts {
  state: DoubleState;
  checker: OpenApiChecker;
  publicKey: KeyObject;
  requests: RecordedRequest[];
  violations: string[];
  failures: Failure[];
}

/** A canned error body for `failNext`, worded as GitHub words rate limits and outages. */
function failureBody(status: number, headers: Record<string, string>, docsUrl: string): Record<string, string> {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  let message = STATUS_CODES[status] ?? "Error";
  if ((status === 403 || status === 429) && lower["retry-after"] !== undefined) {
    message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.";
  } else if ((status === 403 || status === 429) && lower["x-ratelimit-remaining"] === "0") {
    message = "API rate limit exceeded for installation.";
  }
  return { message, documentation_url: docsUrl, status: String(status) };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function send(res: ServerResponse, reply: Reply): void {
  if (reply.after) {
    const after = reply.after;
    // "close" follows "finish", and also comes when the client went away before the answer.
    res.once("close", () => setImmediate(after));
  }
  const headers: Record<string, string> = { "x-github-media-type": "github.v3; format=json", ...(reply.headers ?? {}) };
  if (reply.body === undefined) {
    res.writeHead(reply.status, headers).end();
    return;
  }
  res.writeHead(reply.status, { "content-type": "application/json; charset=utf-8", ...headers }).end(JSON.stringify(reply.body));
}

export function createDoubleServer(parts: ServerParts): Server {
  const { state, checker, requests, violations, failures } = parts;

  /** Takes one pending `failNext` for the route, if any. */
  const takeFailure = (route: string): Failure | null => {
    const failure = failures.find((f) => f.route === route && f.times > 0);
    if (!failure) return null;
    failure.times -= 1;
    if (failure.times === 0) failures.splice(failures.indexOf(failure), 1);
    return failure;
  };

  const handleGraphql = async (req: IncomingMessage, body: unknown): Promise<Reply> => {
    const failure = takeFailure(GRAPHQL_ROUTE);
    if (failure)
      return { status: failure.status, body: failureBody(failure.status, failure.headers, "https://docs.github.com/graphql"), headers: failure.headers };
    const auth = installationFor(state, req.headers.authorization);
    if (!auth.ok) return { status: 401, body: { message: auth.message, documentation_url: "https://docs.github.com/graphql" } };
    const outcome = await runGraphql(state, auth.value, body);
    violations.push(...outcome.violations);
    // GitHub answers GraphQL validation and resolution errors with 200 and an `errors` array.
    return { status: 200, body: outcome.body };
  };

  const handleRest = async (req: IncomingMessage, match: MatchedOperation, url: URL, query: Record<string, string>, body: unknown): Promise<Reply> => {
    const problems = [...checker.checkPathParams(match), ...checker.checkQuery(match, query)];
    if (problems.length > 0) {
      violations.push(...problems.map((p) => `${match.route}: ${p}`));
      return { status: 400, body: { message: problems.join("\n"), documentation_url: match.docsUrl } };
    }
    const bodyProblems = checker.checkBody(match, body);
    if (bodyProblems.length > 0) {
      violations.push(...bodyProblems.map((p) => `${match.route}: ${p}`));
      return { status: 422, body: { message: `Invalid request.\n\n${bodyProblems.join("\n")}`, documentation_url: match.docsUrl } };
    }
    const handler = handlers[match.route];
    if (!handler) {
      violations.push(`${match.route} (${req.method} ${url.pathname}) is in GitHub's description but not served by the double`);
      return { status: 404, body: { message: "Not Found", documentation_url: match.docsUrl } };
    }
    if (state.ghes && body && typeof body === "object") {
      // An older GHES refuses keys it does not know, e.g. `return_run_details` on dispatches.
      const allowed = (await loadGhesBodyKeys()).get(match.route);
      const refused = allowed ? Object.keys(body).filter((k) => !allowed.has(k)) : [];
      if (refused.length > 0) {
        return {
          status: 422,
          body: { message: `Invalid request.\n\n${refused.map((k) => `"${k}" is not a permitted key.`).join("\n")}`, documentation_url: match.docsUrl },
        };
      }
    }
    const failure = takeFailure(match.route);
    if (failure) return { status: failure.status, body: failureBody(failure.status, failure.headers, match.docsUrl), headers: failure.headers };

    let installationId: number;
    // Routes under /app (token exchanges, the App's webhook log) take the App's JWT, as on GitHub.
    if (/^\w+ \/app\//.test(match.route)) {
      const jwt = verifyAppJwt(req.headers.authorization, parts.publicKey, state.appId);
      if (!jwt.ok) return { status: 401, body: { message: jwt.message, documentation_url: match.docsUrl } };
      installationId = match.route === TOKEN_ROUTE ? Number(match.params.installation_id) : jwt.value;
    } else {
      const auth = installationFor(state, req.headers.authorization);
      if (!auth.ok) return { status: 401, body: { message: auth.message, documentation_url: DOCS } };
      installationId = auth.value;
    }
    try {
      return await handler({
        state,
        params: match.params,
        query,
        body,
        installationId,
        url: new URL(`${url.pathname.replace(/^\/api\/v3/, "")}${url.search}`, "http://x"),
      });
    } catch (error) {
      if (error instanceof ReplyError) return { ...error.reply, body: { documentation_url: match.docsUrl, ...(error.reply.body as object) } };
      throw error;
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const at = Date.now();
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", state.url);
    const query = Object.fromEntries(url.searchParams);
    const raw = await readBody(req);
    const seen: { route: string; path: string; match: MatchedOperation | null; body: unknown } = {
      route: `${method} ${url.pathname}`,
      path: url.pathname,
      match: null,
      body: undefined,
    };

    const answer = async (): Promise<Reply> => {
      if (url.pathname === "/api/graphql" && method === "POST") {
        seen.route = GRAPHQL_ROUTE;
        seen.path = "/graphql";
      } else if (url.pathname.startsWith("/api/v3/")) {
        seen.path = url.pathname.slice("/api/v3".length);
        seen.match = checker.match(method, seen.path);
        seen.route = seen.match ? seen.match.route : `${method} ${seen.path}`;
      }
      try {
        seen.body = raw === "" ? undefined : JSON.parse(raw);
      } catch {
        violations.push(`${seen.route}: the body is not JSON: ${raw.slice(0, 200)}`);
        return { status: 400, body: { message: "Problems parsing JSON", documentation_url: DOCS } };
      }
      if (seen.route === GRAPHQL_ROUTE) return handleGraphql(req, seen.body);
      if (!url.pathname.startsWith("/api/v3/")) {
        violations.push(`${method} ${url.pathname}: not under /api/v3 or /api/graphql (is the client pointed at GHE_HOST?)`);
        return { status: 404, body: { message: "Not Found", documentation_url: DOCS } };
      }
      if (!seen.match) {
        violations.push(`${method} ${seen.path}: no such route in GitHub's REST API description`);
        return { status: 404, body: { message: "Not Found", documentation_url: DOCS } };
      }
      return handleRest(req, seen.match, url, query, seen.body);
    };

    let reply: Reply;
    try {
      reply = await answer();
    } catch (error) {
      violations.push(`${seen.route}: the double failed: ${(error as Error).stack ?? String(error)}`);
      reply = { status: 500, body: { message: `double error: ${(error as Error).message}` } };
    }
    if (seen.match) violations.push(...checker.checkResponse(seen.match, reply.status, reply.body).map((p) => `${p} (a bug in the double)`));
    const body = seen.body as { ref?: unknown; inputs?: unknown; return_run_details?: unknown } | undefined;
    if (seen.route === DISPATCH_ROUTE && seen.match && body && typeof body === "object") {
      state.dispatches.push({
        repository: `${seen.match.params.owner}/${seen.match.params.repo}`,
        workflow: seen.match.params.workflow_id ?? "",
        ref: String(body.ref),
        inputs: (body.inputs ?? {}) as Record<string, string>,
        returnRunDetails: body.return_run_details === true,
        status: reply.status,
      });
    }
    requests.push({ method, route: seen.route, path: seen.path, query, body: seen.body, status: reply.status, at });
    send(res, reply);
  };

  return createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      violations.push(`the double crashed: ${String(error)}`);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
}

/**
 * The storage origin artifact downloads are redirected to: `GET /_blobs/<token>` serves the
 * artifact's bytes while the token is valid (one minute), without asking for credentials. An
 * unknown or expired token answers 403 as Azure storage does for a bad signature; `failNext`
 * works on `GET /_blobs` (a storage outage mid-download).
 */
export function createBlobServer(parts: ServerParts): Server {
  const { state, requests, violations, failures } = parts;
  return createServer((req, res) => {
    const at = Date.now();
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", state.blobUrl);
    const token = /^\/_blobs\/([^/]+)$/.exec(url.pathname)?.[1];
    const record = (status: number) =>
      requests.push({
        method,
        route: token ? BLOB_ROUTE : `${method} ${url.pathname}`,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        body: undefined,
        status,
        at,
        withAuthorization: req.headers.authorization !== undefined,
      });
    const xmlError = (status: number, code: string, message: string) => {
      record(status);
      res
        .writeHead(status, { "content-type": "application/xml" })
        .end(`<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`);
    };
    req.resume();
    if (!token || (method !== "GET" && method !== "HEAD")) {
      violations.push(`${method} ${url.pathname}: not a download URL the double handed out (storage origin ${state.blobUrl})`);
      xmlError(404, "ResourceNotFound", "The specified resource does not exist.");
      return;
    }
    const failure = failures.find((f) => f.route === BLOB_ROUTE && f.times > 0);
    if (failure) {
      failure.times -= 1;
      if (failure.times === 0) failures.splice(failures.indexOf(failure), 1);
      record(failure.status);
      res
        .writeHead(failure.status, { "content-type": "application/xml", ...failure.headers })
        .end(`<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code></Error>`);
      return;
    }
    const grant = state.blobs.get(token);
    if (!grant || grant.expiresAt <= Date.now()) {
      xmlError(403, "AuthenticationFailed", "Server failed to authenticate the request. Signed expiry time has passed or the signature is invalid.");
      return;
    }
    const artifact = state.artifacts.find((a) => a.id === grant.artifactId);
    if (!artifact) {
      xmlError(404, "BlobNotFound", "The specified blob does not exist.");
      return;
    }
    const bytes = artifact.serveBytes ?? artifact.zip;
    record(200);
    res.writeHead(200, { "content-type": "application/zip", "content-length": String(bytes.length) });
    res.end(method === "HEAD" ? undefined : bytes);
  });
}
