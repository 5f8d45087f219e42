/**
 * Checks the double's traffic against GitHub's own REST description (`@octokit/openapi`,
 * api.github.com), so a misspelt route, parameter or body field fails a test instead of passing
 * against a hand-written fixture. The 13 MB spec is read once per process; Ajv validators are
 * compiled per operation on first use and cached.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";

// ajv-formats is CommonJS with `exports.default`; under NodeNext the default import is the module.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;
const require = createRequire(import.meta.url);

type Json = Record<string, unknown>;

interface Parameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  schema?: Json;
}

interface Operation {
  operationId: string;
  parameters?: (Parameter | { $ref: string })[];
  requestBody?: { content?: Record<string, { schema?: Json }> } | { $ref: string };
  responses: Record<string, Json>;
  externalDocs?: { url?: string };
}

interface Spec {
  paths: Record<string, Record<string, Operation>>;
  components: Record<string, Record<string, Json>>;
}

/** A request matched to an operation of the description. */
export interface MatchedOperation {
  /** `METHOD /template`, e.g. `GET /repos/{owner}/{repo}/compare/{basehead}`. */
  route: string;
  operationId: string;
  /** Decoded values of the template's `{params}`. */
  params: Record<string, string>;
  /** The operation's documentation page, used as `documentation_url` in error bodies. */
  docsUrl: string;
}

const HTTP_METHODS = ["get", "put", "post", "patch", "delete", "head", "options"];

interface Template {
  method: string;
  path: string;
  segments: string[];
  literals: number;
}

/**
 * OpenAPI 3.0's `nullable: true` is not JSON Schema (and Ajv refuses it next to `oneOf` without
 * `type`, as in `commit.author`), so rewrite it to `anyOf: [schema, {type: "null"}]`. With
 * `refPrefix`, `#/components/...` refs are made to point into the schema registered as `gh`.
 */
function toJsonSchema(node: unknown, refPrefix = ""): unknown {
  if (Array.isArray(node)) return node.map((item) => toJsonSchema(item, refPrefix));
  if (node === null || typeof node !== "object") return node;
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    out[key] = key === "$ref" && typeof value === "string" && value.startsWith("#/") ? `${refPrefix}${value}` : toJsonSchema(value, refPrefix);
  }
  const nullable = out.nullable === true;
  delete out.nullable;
  return nullable ? { anyOf: [out, { type: "null" }] } : out;
}

function formatErrors(errors: ErrorObject[] | null | undefined, dataVar: string): string {
  return (errors ?? [])
    .slice(0, 6)
    .map(
      (e) =>
        `${`${dataVar}${e.instancePath}` || "(root)"} ${e.message ?? e.keyword}${e.params && "allowedValues" in e.params ? ` ${JSON.stringify(e.params.allowedValues)}` : ""}${e.params && "additionalProperty" in e.params ? ` (${String(e.params.additionalProperty)})` : ""}`,
    )
    .join("; ");
}

export class OpenApiChecker {
  private readonly ajv: Ajv;
  private readonly templates = new Map<number, Template[]>();
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(private readonly spec: Spec) {
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: "gh", components: toJsonSchema(spec.components) });
    for (const [path, item] of Object.entries(spec.paths)) {
      const segments = path.split("/").slice(1);
      for (const method of Object.keys(item)) {
        if (!HTTP_METHODS.includes(method)) continue;
        const template = { method: method.toUpperCase(), path, segments, literals: segments.filter((s) => !s.startsWith("{")).length };
        const list = this.templates.get(segments.length) ?? [];
        list.push(template);
        this.templates.set(segments.length, list);
      }
    }
  }

  /** Finds the operation for a concrete request path (without the `/api/v3` prefix). */
  match(method: string, path: string): MatchedOperation | null {
    const segments = path.replace(/\/+$/, "").split("/").slice(1);
    let best: Template | null = null;
    for (const t of this.templates.get(segments.length) ?? []) {
      if (t.method !== method) continue;
      const fits = t.segments.every((s, i) => (s.startsWith("{") ? segments[i] !== "" : s === segments[i]));
      if (fits && (!best || t.literals > best.literals)) best = t;
    }
    if (!best) return null;
    const params: Record<string, string> = {};
    best.segments.forEach((s, i) => {
      if (!s.startsWith("{")) return;
      const raw = segments[i] ?? "";
      let value = raw;
      try {
        value = decodeURIComponent(raw);
      } catch {
        // keep the raw segment; the handler will not find it
      }
      params[s.slice(1, -1)] = value;
    });
    const op = this.operation(best.method, best.path);
    return {
      route: `${best.method} ${best.path}`,
      operationId: op.operationId,
      params,
      docsUrl: op.externalDocs?.url ?? "https://docs.github.com/rest",
    };
  }

  private operation(method: string, path: string): Operation {
    const op = this.spec.paths[path]?.[method.toLowerCase()];
    if (!op) throw new Error(`no operation ${method} ${path}`);
    return op;
  }

  private deref<T>(value: T | { $ref: string }): T {
    if (value && typeof value === "object" && "$ref" in value && typeof value.$ref === "string") {
      const [, , kind = "", name = ""] = value.$ref.split("/");
      const target = this.spec.components[kind]?.[name];
      if (!target) throw new Error(`unresolved ${value.$ref}`);
      return this.deref(target as T | { $ref: string });
    }
    return value as T;
  }

  private parameters(route: string): Parameter[] {
    const [method = "", path = ""] = route.split(" ");
    return (this.operation(method, path).parameters ?? []).map((p) => this.deref<Parameter>(p));
  }

  private validator(key: string, schema: unknown): ValidateFunction {
    let validate = this.validators.get(key);
    if (!validate) {
      validate = this.ajv.compile(toJsonSchema(schema, "gh") as Json);
      this.validators.set(key, validate);
    }
    return validate;
  }

  /** Problems with path parameter values (an integer parameter given `abc`, say). */
  checkPathParams(match: MatchedOperation): string[] {
    return this.parameters(match.route)
      .filter((p) => p.in === "path")
      .flatMap((p) => this.checkScalar(`path parameter "${p.name}"`, p.schema, match.params[p.name] ?? ""));
  }

  /** Undeclared query parameters and values that cannot be the declared type. */
  checkQuery(match: MatchedOperation, query: Record<string, string>): string[] {
    const declared = new Map(
      this.parameters(match.route)
        .filter((p) => p.in === "query")
        .map((p) => [p.name, p]),
    );
    return Object.entries(query).flatMap(([name, value]) => {
      const p = declared.get(name);
      if (!p) return [`query parameter "${name}" is not declared for ${match.route} (declared: ${[...declared.keys()].join(", ") || "none"})`];
      return this.checkScalar(`query parameter "${name}"`, p.schema, value);
    });
  }

  private checkScalar(what: string, schema: Json | undefined, value: string): string[] {
    if (!schema) return [];
    const type = schema.type;
    if (type === "integer" && !/^-?\d+$/.test(value)) return [`${what} must be an integer, got ${JSON.stringify(value)}`];
    if (type === "boolean" && value !== "true" && value !== "false") return [`${what} must be a boolean, got ${JSON.stringify(value)}`];
    if (Array.isArray(schema.enum) && !schema.enum.includes(value))
      return [`${what} must be one of ${JSON.stringify(schema.enum)}, got ${JSON.stringify(value)}`];
    return [];
  }

  /** The operation's JSON request body schema, if it takes one. */
  private bodySchema(route: string): Json | null {
    const [method = "", path = ""] = route.split(" ");
    const body = this.operation(method, path).requestBody;
    if (!body) return null;
    return this.deref(body).content?.["application/json"]?.schema ?? null;
  }

  /**
   * Body problems: schema violations (Ajv against `requestBody`), plus top-level keys the
   * description does not declare, which GitHub mostly ignores but which here are almost always
   * a misspelt field, so they are reported.
   */
  checkBody(match: MatchedOperation, body: unknown): string[] {
    const schema = this.bodySchema(match.route);
    if (!schema) {
      return body === undefined || (typeof body === "object" && body !== null && Object.keys(body).length === 0)
        ? []
        : [`${match.route} takes no request body, got ${JSON.stringify(body).slice(0, 200)}`];
    }
    const validate = this.validator(`request ${match.route}`, schema);
    const problems: string[] = [];
    if (!validate(body ?? {})) problems.push(`request body: ${formatErrors(validate.errors, "")}`);
    const declared = this.declaredBodyKeys(match.route);
    if (declared && body && typeof body === "object" && !Array.isArray(body)) {
      for (const key of Object.keys(body))
        if (!declared.has(key)) problems.push(`request body field "${key}" is not declared (declared: ${[...declared].join(", ")})`);
    }
    return problems;
  }

  /** Top-level properties of the operation's body schema, or null when it has none declared. */
  declaredBodyKeys(route: string): Set<string> | null {
    const schema = this.bodySchema(route);
    if (!schema) return null;
    const resolved = this.deref<Json>(schema);
    const properties = resolved.properties as Json | undefined;
    return properties ? new Set(Object.keys(properties)) : null;
  }

  /**
   * Problems with a response the double is about to send: a status the description does not
   * declare (error statuses fall back to `basic-error`, which GitHub sends everywhere), or a
   * body that does not match the declared schema.
   */
  checkResponse(match: MatchedOperation, status: number, body: unknown): string[] {
    const [method = "", path = ""] = match.route.split(" ");
    const declared = this.operation(method, path).responses[String(status)];
    let schema: Json | undefined;
    if (declared) {
      schema = this.deref<{ content?: Record<string, { schema?: Json }> }>(declared).content?.["application/json"]?.schema;
    } else if (status >= 400) {
      schema = { $ref: "#/components/schemas/basic-error" };
    } else {
      return [`the double answered ${match.route} with ${status}, which the description does not declare`];
    }
    if (!schema) return body === undefined ? [] : [`the double sent a body with ${status} for ${match.route}, which declares none`];
    const validate = this.validator(`response ${match.route} ${status}`, schema);
    return validate(body)
      ? []
      : [`the double's ${status} response to ${match.route} does not match the description: ${formatErrors(validate.errors, "response")}`];
  }
}

const loaded = new Map<string, Promise<unknown>>();

/** Parses a JSON file from @octokit/openapi's `generated/` folder once per process. */
function loadSpecFile(name: string): Promise<unknown> {
  let promise = loaded.get(name);
  if (!promise) {
    const file = require.resolve(`@octokit/openapi/generated/${name}`);
    promise = readFile(file, "utf8").then((text) => JSON.parse(text) as unknown);
    loaded.set(name, promise);
  }
  return promise;
}

let checker: Promise<OpenApiChecker> | null = null;

/** The api.github.com checker, shared by every double in the process. */
export function loadChecker(): Promise<OpenApiChecker> {
  checker ??= loadSpecFile("api.github.com.json").then((spec) => new OpenApiChecker(spec as Spec));
  return checker;
}

let ghesKeys: Promise<Map<string, Set<string> | null>> | null = null;

/**
 * What GitHub Enterprise Server 3.19 accepts: route -> top-level body keys (null: no body schema).
 * Only this summary is kept, not the second 13 MB spec.
 */
export function loadGhesBodyKeys(): Promise<Map<string, Set<string> | null>> {
  ghesKeys ??= loadSpecFile("ghes-3.19.json").then((raw) => {
    const spec = raw as Spec;
    loaded.delete("ghes-3.19.json");
    const keys = new Map<string, Set<string> | null>();
    for (const [path, item] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!HTTP_METHODS.includes(method)) continue;
        const body = op.requestBody && "content" in op.requestBody ? op.requestBody.content?.["application/json"]?.schema : undefined;
        const properties = body?.properties as Json | undefined;
        keys.set(`${method.toUpperCase()} ${path}`, properties ? new Set(Object.keys(properties)) : null);
      }
    }
    return keys;
  });
  return ghesKeys;
}
