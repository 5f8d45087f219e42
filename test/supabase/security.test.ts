/**
 * What the API roles can reach, on PGlite and on a real PostgreSQL server, each given Supabase's
 * default privileges before the migrations run (as a Supabase project has them): Supabase
 * exposes the `public` schema to `anon` and `authenticated` through PostgREST, so as either role
 * every table, view, sequence (identity ones too) and function must be refused. Objects are
 * enumerated from the catalogs, so whatever a new migration adds is covered without touching
 * this file; and what a later migration would create is checked to be closed by default.
 * Also the spirit of Supabase's splinter lints: 0013 rls_disabled_in_public, 0011
 * function_search_path_mutable, 0010 security_definer_view, 0028/0029 security definer functions
 * executable by the API roles.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FUNCTIONS, sqlName } from "../../app/src/store/functions.js";
import type { SqlClient } from "../../app/src/store/sql-client.js";
import { sqlTransport } from "../../app/src/store/sql-transport.js";
import { Store } from "../../app/src/store/store.js";
import { newJob } from "../support/jobs.js";
import { BACKENDS, openTestDatabase, stopTestPostgres, type TestDatabase } from "../support/postgres.js";

const API_ROLES = ["anon", "authenticated"] as const;
const INSUFFICIENT_PRIVILEGE = "42501";

type Relation = {
  name: string;
  kind: "table" | "view" | "sequence";
  /** A column an UPDATE may name (not an identity or generated one). */
  firstColumn: string | null;
};

type Func = {
  signature: string;
  call: string;
  config: string[] | null;
  definer: boolean;
};

async function relations(c: SqlClient): Promise<Relation[]> {
  const { rows } = await c.query<Relation>(`
    select c.relname as name,
      case when c.relkind in ('r', 'p') then 'table' when c.relkind = 'S' then 'sequence' else 'view' end as kind,
      (select a.attname from pg_catalog.pg_attribute a
       where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attidentity = '' and a.attgenerated = ''
       order by a.attnum limit 1) as "firstColumn"
    from pg_catalog.pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
    order by c.relname`);
  return rows;
}

/** Every function and procedure in public, with a call that passes a typed NULL per argument. */
async function functions(c: SqlClient): Promise<Func[]> {
  const { rows } = await c.query<Func>(`
    select p.oid::regprocedure::text as signature,
      case when p.prokind = 'p' then 'call ' else 'select * from ' end
        || format('%I.%I', n.nspname, p.proname) || '('
        || coalesce((select string_agg('null::' || pg_catalog.format_type(t.oid, null), ', ' order by a.i)
                     from unnest(p.proargtypes::oid[]) with ordinality as a(typ, i)
                     join pg_catalog.pg_type t on t.oid = a.typ), '')
        || ')' as call,
      p.proconfig as config,
      p.prosecdef as definer
    from pg_catalog.pg_proc p
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'public' and p.prokind in ('f', 'p')
    order by 1`);
  return rows;
}

/** Runs `fn` on one connection as `role`, and always gives the connection back as it was. */
function asRole<T>(client: SqlClient, role: string, fn: (session: SqlClient) => Promise<T>): Promise<T> {
  return client.withSession(async (session) => {
    await session.exec(`set role ${role}`);
    try {
      return await fn(session);
    } finally {
      await session.exec("reset role");
    }
  });
}

/** The error a statement raises, or undefined when it succeeds. */
async function errorOf(session: SqlClient, sql: string): Promise<{ code?: string; message: string } | undefined> {
  try {
    await session.query(sql);
    return undefined;
  } catch (error) {
    return error as { code?: string; message: string };
  }
}

/** splinter 0013: tables in public without row level security. */
async function tablesWithoutRls(c: SqlClient): Promise<string[]> {
  const { rows } = await c.query<{ name: string }>(`
    select c.relname as name from pg_catalog.pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relrowsecurity
    order by 1`);
  return rows.map((r) => r.name);
}

/** splinter 0011 (every function, not only definers): functions without a pinned search_path. */
async function functionsWithMutableSearchPath(c: SqlClient): Promise<string[]> {
  return (await functions(c)).filter((f) => !(f.config ?? []).some((s) => s.startsWith("search_path="))).map((f) => f.signature);
}

/** Security definer functions must pin search_path to '' (and, below, be closed to the API roles). */
async function looseDefiners(c: SqlClient): Promise<string[]> {
  return (await functions(c)).filter((f) => f.definer && !(f.config ?? []).includes('search_path=""')).map((f) => f.signature);
}

/** splinter 0010: views that run with their owner's rights. */
async function definerViews(c: SqlClient): Promise<string[]> {
  const { rows } = await c.query<{ name: string }>(`
    select c.relname as name from pg_catalog.pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('v', 'm')
      and not coalesce('security_invoker=true' = any (c.reloptions) or 'security_invoker=on' = any (c.reloptions), false)
    order by 1`);
  return rows.map((r) => r.name);
}

/** Every object in public on which `role` holds any privilege (directly, through PUBLIC, or per column). */
async function privilegesOf(c: SqlClient, role: string): Promise<string[]> {
  const { rows } = await c.query<{ object: string }>(
    `
    select c.relname as object from pg_catalog.pg_class c
    where c.relnamespace = 'public'::regnamespace
      and case when c.relkind in ('r', 'p', 'v', 'm', 'f')
        then has_table_privilege($1, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
          or has_any_column_privilege($1, c.oid, 'SELECT, INSERT, UPDATE, REFERENCES')
        else false end
    union all
    select c.relname from pg_catalog.pg_class c
    where c.relnamespace = 'public'::regnamespace
      and case when c.relkind = 'S' then has_sequence_privilege($1, c.oid, 'USAGE, SELECT, UPDATE') else false end
    union all
    select p.oid::regprocedure::text from pg_catalog.pg_proc p
    where p.pronamespace = 'public'::regnamespace and has_function_privilege($1, p.oid, 'EXECUTE')
    order by 1`,
    [role],
  );
  return rows.map((r) => r.object);
}

afterAll(() => stopTestPostgres());

describe.each(BACKENDS)("database security on %s", (backend) => {
  let db: TestDatabase;
  let c: SqlClient;
  let rels: Relation[];
  let funcs: Func[];
  beforeAll(async () => {
    db = await openTestDatabase(backend, { supabaseDefaults: true });
    c = db.client;
    rels = await relations(c);
    funcs = await functions(c);
  });
  afterAll(() => db?.close());

  it("finds the schema's objects (the enumeration itself works)", () => {
    const names = rels.map((r) => r.name);
    expect(names).toEqual(
      expect.arrayContaining([
        "bisect_jobs",
        "bisect_attempts",
        "bisect_probes",
        "bisect_tasks",
        "bisect_claim_audit",
        "bisect_queue",
        "bisect_repository_stats",
      ]),
    );
    // The fencing-token sequence and the identity columns' own sequences.
    const sequences = rels.filter((r) => r.kind === "sequence").map((r) => r.name);
    expect(sequences).toEqual(expect.arrayContaining(["bisect_lease_token_seq", "bisect_jobs_id_seq", "bisect_tasks_id_seq", "bisect_claim_audit_id_seq"]));
    const signatures = funcs.map((f) => f.signature);
    for (const fn of [...Object.keys(FUNCTIONS).map(sqlName), "bisect_backoff", "bisect_held_job", "bisect_lease_job"]) {
      expect(
        signatures.some((s) => s.startsWith(`${fn}(`)),
        fn,
      ).toBe(true);
    }
  });

  it("has row level security enabled on every table in public (splinter 0013)", async () => {
    expect(await tablesWithoutRls(c)).toEqual([]);
  });

  it("pins search_path on every function (splinter 0011); security definer ones to ''", async () => {
    expect(await functionsWithMutableSearchPath(c)).toEqual([]);
    expect(await looseDefiners(c)).toEqual([]);
  });

  it("has no view that runs with its owner's rights (splinter 0010)", async () => {
    expect(await definerViews(c)).toEqual([]);
  });

  it("catches what it is meant to catch: a loose table, function and view (created and rolled back)", async () => {
    await c.withSession(async (s) => {
      await s.exec("begin");
      try {
        await s.exec(`
          create table public.zz_loose (id int, note text);
          grant select on public.zz_loose to anon;
          create function public.zz_loose_fn(p integer) returns integer language sql as 'select p';
          create view public.zz_loose_view as select 1 as x;
          grant select on public.zz_loose_view to authenticated;
          create function public.zz_loose_definer() returns integer language sql security definer set search_path = public as 'select 1';`);
        expect(await tablesWithoutRls(s)).toEqual(["zz_loose"]);
        expect(await functionsWithMutableSearchPath(s)).toEqual(["zz_loose_fn(integer)"]);
        expect(await looseDefiners(s)).toEqual(["zz_loose_definer()"]);
        expect(await definerViews(s)).toEqual(["zz_loose_view"]);
        // New functions are executable by PUBLIC unless a migration revokes it.
        expect(await privilegesOf(s, "anon")).toEqual(["zz_loose", "zz_loose_definer()", "zz_loose_fn(integer)"]);
        expect(await privilegesOf(s, "authenticated")).toEqual(["zz_loose_definer()", "zz_loose_fn(integer)", "zz_loose_view"]);
        await s.exec("set local role anon");
        expect((await s.query("select * from public.zz_loose")).rows).toEqual([]);
        expect((await s.query("select public.zz_loose_fn(7) as v")).rows).toEqual([{ v: 7 }]);
      } finally {
        await s.exec("rollback");
      }
    });
    expect(await tablesWithoutRls(c)).toEqual([]);
  });

  it("keeps closed what a later migration creates: tables, their identity sequences, sequences and views", async () => {
    await c.withSession(async (s) => {
      await s.exec("begin");
      try {
        // As a later migration would, with no grants or revokes of its own.
        await s.exec(`
          create table public.zz_later (id bigint generated always as identity primary key, note text);
          alter table public.zz_later enable row level security;
          create sequence public.zz_later_seq;
          create view public.zz_later_view with (security_invoker = true) as select id from public.zz_later;`);
        const later = ["zz_later", "zz_later_id_seq", "zz_later_seq", "zz_later_view"];
        for (const role of API_ROLES)
          expect(
            (await privilegesOf(s, role)).filter((o) => o.startsWith("zz_")),
            role,
          ).toEqual([]);
        expect((await privilegesOf(s, "service_role")).filter((o) => o.startsWith("zz_"))).toEqual(later);
      } finally {
        await s.exec("rollback");
      }
    });
  });

  describe.each(API_ROLES)("as %s", (role) => {
    it("holds no privilege on any table, view, sequence, column or function in public", async () => {
      expect(await privilegesOf(c, role)).toEqual([]);
    });

    it("is refused select, insert, update and delete on every table and view", async () => {
      const allowed = await asRole(c, role, async (s) => {
        const got: string[] = [];
        for (const rel of rels.filter((r) => r.kind !== "sequence")) {
          const table = `public."${rel.name}"`;
          const column = `"${rel.firstColumn}"`;
          const statements = {
            select: `select * from ${table} limit 1`,
            insert: `insert into ${table} default values`,
            update: `update ${table} set ${column} = ${column} where false`,
            delete: `delete from ${table} where false`,
          };
          for (const [verb, sql] of Object.entries(statements)) {
            const error = await errorOf(s, sql);
            // Views that cannot be written refuse writes before the privilege check; refused is refused.
            const refused =
              error?.code === INSUFFICIENT_PRIVILEGE ||
              (rel.kind === "view" && verb !== "select" && /cannot (insert into|update|delete from) view/.test(error?.message ?? ""));
            if (!refused) got.push(`${verb} ${rel.name}: ${error ? `${error.code} ${error.message}` : "allowed"}`);
          }
        }
        return got;
      });
      expect(allowed).toEqual([]);
    });

    it("is refused every sequence", async () => {
      const allowed = await asRole(c, role, async (s) => {
        const got: string[] = [];
        for (const seq of rels.filter((r) => r.kind === "sequence")) {
          for (const sql of [
            `select nextval('public."${seq.name}"')`,
            `select last_value from public."${seq.name}"`,
            `select setval('public."${seq.name}"', 1000)`,
          ]) {
            const error = await errorOf(s, sql);
            if (error?.code !== INSUFFICIENT_PRIVILEGE) got.push(`${sql}: ${error ? `${error.code} ${error.message}` : "allowed"}`);
          }
        }
        return got;
      });
      expect(allowed).toEqual([]);
    });

    it("is refused execute on every function in public", async () => {
      expect(funcs.length).toBeGreaterThan(10);
      const allowed = await asRole(c, role, async (s) => {
        const got: string[] = [];
        for (const fn of funcs) {
          const error = await errorOf(s, fn.call);
          if (error?.code !== INSUFFICIENT_PRIVILEGE || !/permission denied for (function|procedure)/.test(error.message)) {
            got.push(`${fn.call}: ${error ? `${error.code} ${error.message}` : "allowed"}`);
          }
        }
        return got;
      });
      expect(allowed).toEqual([]);
    });

    it("left no rows behind (every write was refused)", async () => {
      for (const table of ["bisect_jobs", "bisect_attempts", "bisect_probes", "bisect_tasks", "bisect_claim_audit"]) {
        expect(Number((await c.query<{ n: string }>(`select count(*)::text as n from public.${table}`)).rows[0]!.n), table).toBe(0);
      }
      // No refused nextval or setval moved the fencing tokens.
      expect((await c.query<{ called: boolean }>("select is_called as called from public.bisect_lease_token_seq")).rows[0]!.called).toBe(false);
    });
  });

  it("gives the role back after a refused statement (the session is reset)", async () => {
    await asRole(c, "anon", async (s) => expect(await errorOf(s, "select * from public.bisect_jobs")).toMatchObject({ code: INSUFFICIENT_PRIVILEGE }));
    const { rows } = await c.query<{ role: string }>("select current_user as role");
    expect(rows[0]!.role).toBe("postgres");
  });

  it("lets service_role (the server's secret key) run the whole lifecycle and read the views", async () => {
    const run = await asRole(c, "service_role", async (s) => {
      // The Store on this session: every call below runs as service_role (never closed: it is the test's connection).
      const store = new Store(sqlTransport(s));
      const input = newJob({ repositoryId: 1 });
      const { job_id: id } = await store.call("createJob", input);
      const waiting = (await store.call("createJob", newJob({ repositoryId: 1 }))).job_id;
      const [claimed] = await store.call("claimJobs", { worker: "svc-worker", limit: 10, leaseSeconds: 30, maxActive: 1 });
      await store.call("recordDispatchIntent", { jobId: id, token: claimed!.token });
      await store.call("setStatusComment", { jobId: id, token: claimed!.token, commentId: 5 });
      await store.call("extendLease", { token: claimed!.token, leaseSeconds: 60 });
      await store.call("recordDispatch", { jobId: id, token: claimed!.token, runId: 99, runUrl: "https://example.test/run/99", checkAfterSeconds: 0 });
      await store.call("noteRunEvent", { repositoryId: 1, runId: 99, runAttempt: 1, jobId: null, status: "in_progress", conclusion: null });
      const [again] = await store.call("claimJobs", { worker: "svc-worker", limit: 10, leaseSeconds: 30, maxActive: 1 });
      await store.call("checkLater", { jobId: id, token: again!.token, seconds: 0 });
      const [check] = await store.call("claimJobs", { worker: "svc-worker", limit: 10, leaseSeconds: 30, maxActive: 1 });
      const probes = [{ sha: "c".repeat(40), verdict: "bad", exitCode: 1, durationMs: 5, round: 1 }] as const;
      const done = await store.call("recordResult", {
        jobId: id,
        token: check!.token,
        verdict: "culprit",
        reason: null,
        culpritSha: "c".repeat(40),
        confidence: 1,
        tested: 1,
        rounds: 1,
        error: null,
        probes: [...probes],
      });
      // The waiting job's announce task, its give-up, the give-up reply, and a retry of the finished job.
      const [announce] = await store.call("claimTasks", { worker: "svc-worker", limit: 10, leaseSeconds: 30 });
      const gaveUp = await store.call("failTask", {
        taskId: announce!.id,
        token: announce!.token,
        error: "x",
        permanent: true,
        retryAfterSeconds: 0,
        giveUpReply: { body: "x", reaction: null, cancelRunId: null },
      });
      const [reply] = await store.call("claimTasks", { worker: "svc-worker", limit: 10, leaseSeconds: 30 });
      await store.call("releaseLease", { token: reply!.token });
      const [replyAgain] = await store.call("claimTasks", { worker: "svc-worker", limit: 10, leaseSeconds: 30 });
      await store.call("finishTask", { taskId: replyAgain!.id, token: replyAgain!.token, outcome: "posted" });
      const reads = {
        probes: (await store.call("jobProbes", { jobId: id })).length,
        runs: (await store.call("attemptRuns", { jobId: id })).length,
        latestIsWaiting: (await store.call("latestJob", { repositoryId: 1, issueNumber: 42 }))?.id === waiting,
        position: await store.call("queuePosition", { jobId: waiting }),
        handled: await store.call("commentHandled", { repositoryId: 1, commentId: input.commentId }),
        counts: (await store.call("activeCounts", {})).length,
        stats: (await store.call("stats", { worker: "svc-worker" })).completed,
      };
      const retried = await store.call("retryJob", { jobId: id, extraAttempts: 1 });
      const cancelled = await store.call("cancelJob", { jobId: waiting, by: "svc" });
      await store.call("failAttempt", { jobId: id, token: 0, error: "x", retryAfterSeconds: 0, probes: [] });
      await store.call("timeOutJob", { jobId: id, token: 0, error: "x", tested: 0 });
      const task = await store.call("enqueueTask", {
        kind: "command",
        deliveryId: "svc",
        repository: "o/r",
        repositoryId: 1,
        installationId: 1,
        issueNumber: 1,
        commentId: 77,
        payload: { body: "/bisect", requester: "octocat", isPullRequest: false, commentedAt: "2026-12-01T12:00:00Z" },
      });
      const views = {
        succeeded: (await s.query<{ succeeded: string }>("select succeeded::text as succeeded from public.bisect_repository_stats")).rows[0]?.succeeded,
        queue: (await s.query("select * from public.bisect_queue")).rows.length,
      };
      return { done, gaveUp, ...reads, retried, cancelled, created: task.created, ...views };
    });
    expect(run).toEqual({
      done: true,
      gaveUp: "failed",
      probes: 1,
      runs: 1,
      latestIsWaiting: true,
      position: 1,
      handled: true,
      counts: 1,
      stats: 1,
      retried: true,
      cancelled: { cancelled: true, run_id: null },
      created: true,
      succeeded: "0",
      queue: 1,
    });
    await c.exec(
      "truncate public.bisect_jobs, public.bisect_attempts, public.bisect_probes, public.bisect_job_graphs, public.bisect_auto_triggers, public.bisect_claim_audit, public.bisect_tasks",
    );
  });
});
