/**
 * Test support: a stand-in for Supabase's Data API (the API gateway in front of PostgREST), for
 * the supabase-js store. No PostgREST binary is available here (and no Docker for
 * `supabase start`), so this small node:http server answers PostgREST's
 * `POST /rest/v1/rpc/<fn>` from a real PostgreSQL database, as PostgREST would:
 *
 * - The gateway's key check: `apikey` must be a configured key (compared in constant time), and an
 *   `Authorization: Bearer` header, if sent, must carry the same key; otherwise 401 with the
 *   gateway's `{ message, hint }`. The secret key runs as `service_role`, the publishable key (if
 *   configured) as `anon`.
 * - Each call is one transaction with `set local role <role>` and `request.jwt.claims`, so the
 *   migrations' grants and revokes are what decide, as on Supabase.
 * - Named arguments go through `json_to_record` with the function's own parameter types (as
 *   PostgREST binds its JSON body), so JSON arrays become `text[]`, objects `jsonb`.
 * - The function is found by name and by the set of argument keys (PGRST202, 404, when none fits).
 * - Response shapes are PostgreSQL's own JSON: an array of rows for set-returning and table
 *   functions, one object for a function returning a single row, a bare value for scalar ones.
 * - Errors are `{ code, message, details, hint }` with PostgREST's status for the SQLSTATE
 *   (42501 → 401 for anon and 403 otherwise, 23505 → 409, 42883 → 404, P0001 → 400, …).
 *
 * Not emulated: table and view endpoints (`/rest/v1/<table>`), GET/HEAD rpc calls, filters,
 * `Prefer` headers (count, tx=rollback, params=single-object), JWTs of signed-in users (only the
 * two API keys), schemas other than `public`, the schema cache (it reads pg_proc on every call),
 * OpenAPI, and PostgREST's connection pool limits and timeouts.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";

export interface PostgrestDoubleOptions {
  /** The database the functions run in (the test server's URL, as the superuser). */
  databaseUrl: string;
  /** The key that runs calls as `service_role` (Supabase's `sb_secret_…` key). */
  secretKey: string;
  /** The key that runs calls as `anon` (Supabase's `sb_publishable_…` key), if any. */
  publishableKey?: string;
  /** Connections to PostgreSQL, as PostgREST's `db-pool` (default 20). */
  poolSize?: number;
}

export interface PostgrestDouble {
  /** What `createClient()` takes as SUPABASE_URL, e.g. `http://127.0.0.1:43121`. */
  readonly url: string;
  /** Every request answered: function, role it ran as (or none), HTTP status. */
  readonly requests: { fn: string; role: string | null; status: number }[];
  close(): Promise<void>;
}

type Role = "service_role" | "anon";

interface FunctionInfo {
  args: { name: string; type: string }[];
  /** How many trailing arguments have defaults. */
  defaults: number;
  retset: boolean;
  /** Returns rows (a composite type, `returns table`, or record) rather than a scalar. */
  rows: boolean;
  void: boolean;
}

interface PostgrestError {
  code: string | null;
  message: string;
  details: string | null;
  hint: string | null;
}

const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;

/** PostgREST's HTTP status for a PostgreSQL error (docs: "Errors", SQLSTATE mapping). */
export function statusForSqlState(code: string, role: Role): number {
  if (code === "42501") return role === "anon" ? 401 : 403;
  if (code === "23503" || code === "23505") return 409;
  if (code === "25006") return 405;
  if (code === "42883" || code === "42P01") return 404;
  if (code === "P0001") return 400;
  if (code === "42P17") return 500;
  const klass = code.slice(0, 2);
  if (klass === "08" || klass === "53") return 503;
  if (klass === "0L" || klass === "0P" || klass === "28") return 403;
  if (["09", "25", "2D", "38", "39", "3B", "40", "54", "55", "57", "58", "F0", "HV", "P0", "XX"].includes(klass)) return 500;
  return 400;
}

/** Starts the double on 127.0.0.1 and a free port. */
export async function startPostgrestDouble(options: PostgrestDoubleOptions): Promise<PostgrestDouble> {
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize ?? 20 });
  pool.on("error", () => undefined);
  // PostgREST hands PostgreSQL's JSON text through untouched; so does the double.
  const digest = (value: string) => createHash("sha256").update(value).digest();
  const keys: [Buffer, Role][] = [[digest(options.secretKey), "service_role"]];
  if (options.publishableKey !== undefined) keys.push([digest(options.publishableKey), "anon"]);
  const requests: PostgrestDouble["requests"] = [];

  const roleFor = (req: IncomingMessage): Role | PostgrestError => {
    const apikey = req.headers.apikey;
    if (typeof apikey !== "string" || apikey === "") {
      return { code: null, message: "No API key found in request", details: null, hint: "No `apikey` request header or url param was found." };
    }
    const given = digest(apikey);
    const match = keys.find(([key]) => timingSafeEqual(key, given));
    const authorization = req.headers.authorization;
    if (!match || (authorization !== undefined && authorization !== `Bearer ${apikey}`)) {
      return { code: null, message: "Invalid API key", details: null, hint: "Double check your Supabase `anon` or `service_role` API key." };
    }
    return match[1];
  };

  const lookUp = async (client: pg.PoolClient, fn: string): Promise<FunctionInfo[]> => {
    const { rows } = await client.query<{ args: { name: string; type: string }[]; defaults: number; retset: boolean; rows: boolean; void: boolean }>(
      `select
         coalesce((
           select json_agg(json_build_object('name', a.name, 'type', pg_catalog.format_type(a.type, null)) order by a.ord)
           from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames,
                       coalesce(p.proargmodes, array_fill('i'::"char", array[p.pronargs::int])))
                with ordinality as a(type, name, mode, ord)
           where a.mode in ('i', 'b', 'v')
         ), '[]'::json) as args,
         p.pronargdefaults::int as defaults,
         p.proretset as retset,
         (t.typtype = 'c' or p.prorettype = 'pg_catalog.record'::regtype or 't' = any(coalesce(p.proargmodes, '{}'))) as rows,
         p.prorettype = 'pg_catalog.void'::regtype as void
       from pg_catalog.pg_proc p
       join pg_catalog.pg_namespace n on n.oid = p.pronamespace
       join pg_catalog.pg_type t on t.oid = p.prorettype
       where n.nspname = 'public' and p.proname = $1 and p.prokind = 'f'`,
      [fn],
    );
    return rows;
  };

  const call = async (fn: string, body: Record<string, unknown>, role: Role): Promise<{ status: number; json: string | null }> => {
    const client = await pool.connect();
    try {
      const candidates = await lookUp(client, fn);
      const given = Object.keys(body);
      const fits = candidates.filter((f) => {
        const names = f.args.map((a) => a.name);
        const required = names.slice(0, names.length - f.defaults);
        return given.every((k) => names.includes(k)) && required.every((k) => given.includes(k));
      });
      if (fits.length !== 1) {
        const signature = `public.${fn}(${[...given].sort().join(", ")})`;
        const error: PostgrestError =
          fits.length === 0
            ? {
                code: "PGRST202",
                message: `Could not find the function ${signature} in the schema cache`,
                details: `Searched for the function public.${fn} with parameters ${[...given].sort().join(", ") || "(none)"}, but no matches were found in the schema cache.`,
                hint: null,
              }
            : {
                code: "PGRST203",
                message: `Could not choose the best candidate function between several overloads of public.${fn}`,
                details: null,
                hint: null,
              };
        return { status: fits.length === 0 ? 404 : 300, json: JSON.stringify(error) };
      }
      const f = fits[0]!;
      const passed = f.args.filter((a) => given.includes(a.name));
      const record =
        passed.length > 0 ? `json_to_record($1::json) as _args(${passed.map((a) => `${quote(a.name)} ${a.type}`).join(", ")})` : "(select $1::json) as _args";
      const invocation = `public.${quote(fn)}(${passed.map((a) => `${quote(a.name)} => _args.${quote(a.name)}`).join(", ")})`;
      let sql: string;
      if (f.void) sql = `select ${invocation}, null::text as body from ${record}`;
      else if (f.rows && f.retset) sql = `select coalesce(json_agg(_result), '[]')::text as body from ${record} cross join lateral ${invocation} as _result`;
      else if (f.rows) sql = `select to_json(_result)::text as body from ${record} cross join lateral ${invocation} as _result`;
      else if (f.retset)
        sql = `select coalesce(json_agg(_result._value), '[]')::text as body from ${record} cross join lateral ${invocation} as _result(_value)`;
      else sql = `select to_json(${invocation})::text as body from ${record}`;

      await client.query(`begin; set local role ${role}; select set_config('request.jwt.claims', '{"role":"${role}"}', true)`);
      try {
        const { rows } = await client.query<{ body: string | null }>(sql, [JSON.stringify(body)]);
        await client.query("commit");
        if (f.void) return { status: 204, json: null };
        return { status: 200, json: rows[0]?.body ?? "null" };
      } catch (error) {
        await client.query("rollback").catch(() => undefined);
        throw error;
      }
    } catch (error) {
      const e = error as pg.DatabaseError;
      if (typeof e.code !== "string") throw error;
      const body: PostgrestError = { code: e.code, message: e.message, details: e.detail ?? null, hint: e.hint ?? null };
      return { status: statusForSqlState(e.code, role), json: JSON.stringify(body) };
    } finally {
      client.release();
    }
  };

  const send = (res: ServerResponse, status: number, json: string | null) => {
    if (json === null) res.writeHead(status).end();
    else res.writeHead(status, { "content-type": "application/json; charset=utf-8" }).end(json);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = new URL(req.url ?? "/", "http://double").pathname;
    const fn = /^\/rest\/v1\/rpc\/([A-Za-z_][A-Za-z0-9_]*)$/.exec(path)?.[1] ?? "";
    const answer = (status: number, json: string | null, role: Role | null = null) => {
      requests.push({ fn, role, status });
      send(res, status, json);
    };

    const role = roleFor(req);
    if (typeof role !== "string") return answer(401, JSON.stringify(role));
    if (!fn || req.method !== "POST") {
      return answer(
        404,
        JSON.stringify({
          code: "PGRST125",
          message: `Invalid path specified in request URL (the double answers only POST /rest/v1/rpc/<fn>)`,
          details: null,
          hint: null,
        }),
        role,
      );
    }
    const profile = req.headers["content-profile"];
    if (profile !== undefined && profile !== "public") {
      return answer(
        406,
        JSON.stringify({
          code: "PGRST106",
          message: "Invalid schema: " + String(profile),
          details: null,
          hint: "Only the following schemas are exposed: public",
        }),
        role,
      );
    }
    let body: unknown;
    try {
      const text = Buffer.concat(chunks).toString("utf8");
      body = text === "" ? {} : JSON.parse(text);
    } catch (error) {
      return answer(400, JSON.stringify({ code: "PGRST102", message: "Empty or invalid json", details: (error as Error).message, hint: null }), role);
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      return answer(
        400,
        JSON.stringify({ code: "PGRST102", message: "The request body must be a JSON object of named arguments", details: null, hint: null }),
        role,
      );
    }
    const { status, json } = await call(fn, body as Record<string, unknown>, role);
    answer(status, json, role);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      requests.push({ fn: "", role: null, status: 500 });
      if (!res.headersSent) send(res, 500, JSON.stringify({ code: null, message: (error as Error).message, details: null, hint: null }));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await pool.end();
      })()),
  };
}
