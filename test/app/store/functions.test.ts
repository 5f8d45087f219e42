/**
 * The store's declarations (app/src/store/functions.ts, rows.ts) against what the migrations
 * create, read from the catalogs on PGlite and on the real PostgreSQL server:
 * - every declared function is `public.bisect_<snake>` with arguments `p_<snake>` of the declared
 *   PostgreSQL types, in order, and answers rows (set-returning or table) or one value as
 *   declared, with the columns its schema reads;
 * - every `public.bisect_*` function is declared, or is one of the internal helpers named here;
 * - the row schemas agree with their tables: columns, nullability, the values check constraints
 *   allow, and the shapes each driver hands values over in; a row read back parses with no
 *   column left over.
 * A function, argument or column added or renamed on one side only fails here.
 */
import { z } from "zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FUNCTIONS, pgTypeOf, sqlArgument, sqlName, type StoreFunction } from "../../../app/src/store/functions.js";
import { jobRowSchema, taskRowSchema } from "../../../app/src/store/rows.js";
import type { SqlClient } from "../../../app/src/store/sql-client.js";
import { sqlTransport } from "../../../app/src/store/sql-transport.js";
import { Store } from "../../../app/src/store/store.js";
import { jobOptions, newJob, sha } from "../../support/jobs.js";
import { BACKENDS, openTestDatabase, stopTestPostgres, type TestDatabase } from "../../support/postgres.js";

/** Functions the migrations' functions call, never the App: not declared, on purpose. */
const INTERNAL_HELPERS = [
  "bisect_add_probes",
  "bisect_backoff",
  "bisect_comment_columns",
  "bisect_end_attempt",
  "bisect_end_held_attempt",
  "bisect_held_job",
  "bisect_lease_job",
];

/** Scalar functions answering text: the state column whose values they answer. */
const STATE_ANSWERS: Partial<Record<StoreFunction, { table: string; column: string }>> = {
  failAttempt: { table: "bisect_jobs", column: "state" },
  failTask: { table: "bisect_tasks", column: "state" },
};

/** Enum fields whose values no check constraint lists: the App alone writes them, through the result document's schema. */
const UNCHECKED_ENUMS: Record<string, string[]> = { bisect_jobs: ["reason"], bisect_tasks: [] };

type Proc = {
  name: string;
  args: { name: string; type: string; mode: "i" | "o" | "b" | "v" | "t" }[];
  retset: boolean;
  returns: string;
  composite: boolean;
  /** The table a composite result is the row type of. */
  relation: string | null;
};

type Column = {
  name: string;
  type: string;
  nullable: boolean;
};

async function procs(c: SqlClient): Promise<Proc[]> {
  const { rows } = await c.query<Proc>(`
    select p.proname as name, p.proretset as retset, pg_catalog.format_type(p.prorettype, null) as returns,
      t.typtype = 'c' as composite, r.relname as relation,
      coalesce((
        select json_agg(json_build_object('name', a.name, 'type', pg_catalog.format_type(a.type, null), 'mode', a.mode) order by a.ord)
        from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames,
                    coalesce(p.proargmodes, array_fill('i'::"char", array[p.pronargs::int])))
             with ordinality as a(type, name, mode, ord)
      ), '[]'::json) as args
    from pg_catalog.pg_proc p
    join pg_catalog.pg_type t on t.oid = p.prorettype
    left join pg_catalog.pg_class r on r.oid = t.typrelid
    where p.pronamespace = 'public'::regnamespace and p.proname like 'bisect\\_%'
    order by p.proname`);
  return rows;
}

async function columns(c: SqlClient, table: string): Promise<Column[]> {
  const { rows } = await c.query<Column>(
    `select a.attname as name, pg_catalog.format_type(a.atttypid, a.atttypmod) as type, not a.attnotnull as nullable
     from pg_catalog.pg_attribute a
     where a.attrelid = ('public.' || $1)::regclass and a.attnum > 0 and not a.attisdropped
     order by a.attnum`,
    [table],
  );
  return rows;
}

/** The values a `col = ANY (ARRAY[…])` check constraint of `table` allows, per column. */
async function checkedValues(c: SqlClient, table: string): Promise<Map<string, string[]>> {
  const { rows } = await c.query<{ definition: string }>(
    "select pg_get_constraintdef(oid) as definition from pg_catalog.pg_constraint where conrelid = ('public.' || $1)::regclass and contype = 'c'",
    [table],
  );
  const found = new Map<string, string[]>();
  for (const { definition } of rows) {
    for (const m of definition.matchAll(/\((\w+) = ANY \(ARRAY\[([^\]]*)\]/g)) {
      found.set(m[1]!, [...m[2]!.matchAll(/'([^']*)'::text/g)].map((v) => v[1]!).sort());
    }
  }
  return found;
}

/** The object shapes a declared result reads: through arrays, transforms, tuples and unions. */
function rowShapes(schema: z.core.$ZodType): Record<string, z.ZodType>[] {
  if (schema instanceof z.ZodArray) return rowShapes(schema.element);
  if (schema instanceof z.ZodPipe) return rowShapes(schema.in);
  if (schema instanceof z.ZodTuple) return schema.def.items.flatMap(rowShapes);
  if (schema instanceof z.ZodUnion) return schema.options.flatMap(rowShapes);
  if (schema instanceof z.ZodObject) return [schema.shape];
  throw new Error(`no rows in a ${schema._zod.def.type} schema`);
}

/** The enum a field reads (through nullable), if it is one. */
function enumOf(field: z.ZodType): string[] | undefined {
  const bare = field instanceof z.ZodDefault ? (field.unwrap() as z.ZodType) : field;
  const inner = bare instanceof z.ZodNullable ? (bare.unwrap() as z.ZodType) : bare;
  if (inner instanceof z.ZodEnum) return (inner.options as string[]).slice().sort();
  if (inner instanceof z.ZodLiteral) return [...(inner.values as Set<string>)].sort();
  return undefined;
}

/** Null comes back as null: z.coerce would make it 0 or 1970-01-01, which is not "nullable". */
function acceptsNull(field: z.ZodType): boolean {
  const parsed = field.safeParse(null);
  return parsed.success && parsed.data === null;
}

const SUPABASE_TIME = "2026-11-28T09:00:00+00:00";
const PAYLOADS = {
  command: { body: "/bisect v1.4..main -- npm test", requester: "octocat", isPullRequest: true, commentedAt: "2026-12-01T12:00:00Z" },
  reply: { body: "Done.", reaction: "hooray", cancelRunId: 21474836470 },
  announce: {},
  "red-run": {
    runId: 21474836470,
    runAttempt: 2,
    runNumber: 7,
    workflowId: 161335,
    workflowPath: ".github/workflows/ci.yml",
    headSha: "b".repeat(40),
    headBranch: "main",
    event: "push",
    url: "https://github.com/o/r/actions/runs/21474836470",
    headRepositoryId: 1296269,
  },
  report: { title: "ci.yml broke on main: bbbbbbbbbbbb", body: "…", culpritSha: "b".repeat(40), pullRequest: 77 },
};

/**
 * Values of each type as pg (bigint as text), PGlite (bigint as number or BigInt) and PostgREST
 * (JSON: timestamps as text) hand them over, and what the schema must make of them.
 */
function samples(type: string, column: string, field: z.ZodType, kind?: string): { given: unknown[]; expected: unknown }[] {
  const values = enumOf(field);
  if (values) return values.map((v) => ({ given: [v], expected: v }));
  switch (type) {
    case "bigint":
      return [{ given: ["21474836470", 21474836470, 21474836470n], expected: 21474836470 }];
    case "integer":
      return [{ given: [42], expected: 42 }];
    case "double precision":
      return [{ given: [0.97, 1], expected: undefined }];
    case "boolean":
      return [{ given: [true], expected: true }];
    case "text":
      return [{ given: ["it's text"], expected: "it's text" }];
    case "text[]":
      return [{ given: [["v1.4", "v1.5"]], expected: ["v1.4", "v1.5"] }];
    case "timestamp with time zone":
      return [{ given: [new Date(SUPABASE_TIME), SUPABASE_TIME], expected: new Date(SUPABASE_TIME) }];
    case "jsonb":
      if (column === "options") return [{ given: [jobOptions({ flaky: true, parallel: 3 })], expected: jobOptions({ flaky: true, parallel: 3 }) }];
      if (column === "jobGraph")
        return [{ given: [[["b".repeat(40), "a".repeat(40)], ["a".repeat(40)]]], expected: [["b".repeat(40), "a".repeat(40)], ["a".repeat(40)]] }];
      if (column === "red_run")
        return [
          { given: [null], expected: null },
          { given: [{ id: 21474836470, url: "https://github.com/o/r/actions/runs/21474836470", workflow: "ci.yml", number: 7 }], expected: undefined },
        ];
      if (column === "free_verdicts") return [{ given: [[{ sha: "c".repeat(40), verdict: "good", runId: 21474836470 }], []], expected: undefined }];
      if (column === "payload" && kind !== undefined && kind in PAYLOADS) return [{ given: [PAYLOADS[kind as keyof typeof PAYLOADS]], expected: undefined }];
      break;
  }
  throw new Error(`no sample for ${column} of type ${type}: add one`);
}

function expectReads(field: z.ZodType, type: string, column: string, kind?: string) {
  for (const { given, expected } of samples(type, column, field, kind)) {
    expect(given.length, `${column} (${type}) has samples`).toBeGreaterThan(0);
    for (const value of given) {
      const parsed = field.safeParse(value);
      expect(parsed.success, `${column} (${type}) refuses ${String(value)}`).toBe(true);
      expect(parsed.data, `${column} (${type}) reads ${String(value)}`).toEqual(expected === undefined ? value : expected);
    }
  }
}

const DECLARED = Object.keys(FUNCTIONS) as StoreFunction[];

/** A row schema's fields, per variant: a task's kind has its own payload. */
type Variant = { kind: string | undefined; shape: Record<string, z.ZodType> };
const JOB_VARIANTS: Variant[] = [{ kind: undefined, shape: jobRowSchema.shape }];
const TASK_VARIANTS: Variant[] = taskRowSchema.options.map((o) => ({ kind: o.shape.kind.value, shape: o.shape }));

afterAll(() => stopTestPostgres());

describe.each(BACKENDS)("store declarations and the migrations on %s", (backend) => {
  let db: TestDatabase;
  let found: Map<string, Proc[]>;
  beforeAll(async () => {
    db = await openTestDatabase(backend);
    found = new Map();
    for (const p of await procs(db.client)) found.set(p.name, [...(found.get(p.name) ?? []), p]);
  });
  afterAll(() => db?.close());

  const proc = (fn: StoreFunction): Proc => {
    const overloads = found.get(sqlName(fn)) ?? [];
    expect(overloads, `public.${sqlName(fn)} (declared as ${fn})`).toHaveLength(1);
    return overloads[0]!;
  };

  describe("functions", () => {
    it("declares every public.bisect_* function, and only those (the internal helpers aside)", () => {
      expect(DECLARED.length).toBeGreaterThan(20);
      const declared = DECLARED.map(sqlName);
      expect(new Set(declared).size).toBe(declared.length);
      // Each once: no overloads, which PostgREST could not choose between.
      for (const fn of DECLARED) proc(fn);
      for (const helper of INTERNAL_HELPERS) expect(found.get(helper), helper).toHaveLength(1);
      const undeclared = [...found.keys()].filter((name) => !declared.includes(name) && !INTERNAL_HELPERS.includes(name));
      expect(undeclared, "functions the migrations create that functions.ts does not declare").toEqual([]);
      expect(declared.filter((name) => INTERNAL_HELPERS.includes(name))).toEqual([]);
    });

    it.each(DECLARED)("%s: arguments p_<name>, their PostgreSQL types and their order", (fn) => {
      const shape: Record<string, z.ZodType> = FUNCTIONS[fn].args.shape;
      const declared = Object.entries(shape).map(([name, schema]) => `${sqlArgument(name)} ${pgTypeOf(schema)}`);
      const inputs = proc(fn)
        .args.filter((a) => a.mode === "i" || a.mode === "b")
        .map((a) => `${a.name} ${a.type}`);
      expect(declared).toEqual(inputs);
    });

    it.each(DECLARED)("%s: answers rows or a value as declared, read by its schema", async (fn) => {
      const p = proc(fn);
      const { returns, result } = FUNCTIONS[fn];
      expect(p.returns).not.toBe("void");
      if (returns === "value") {
        expect(p.retset, "a value, not rows").toBe(false);
        expect(p.composite, "a value, not a row").toBe(false);
        if (p.returns === "text") {
          const state = STATE_ANSWERS[fn];
          expect(state, `${fn} answers text: name the column whose values it answers`).toBeDefined();
          expect(enumOf(result as z.ZodType)).toEqual((await checkedValues(db.client, state!.table)).get(state!.column));
          expect(result.safeParse(null).success, `${fn} answers null without the lease`).toBe(true);
        } else {
          expectReads(result as z.ZodType, p.returns, fn);
        }
        return;
      }
      expect(p.retset, "rows: set-returning (setof or returns table)").toBe(true);
      const shapes = rowShapes(result);
      expect(shapes.length).toBeGreaterThan(0);
      const out = p.args.filter((a) => a.mode === "t");
      const cols: Column[] = out.length > 0 ? out.map((a) => ({ name: a.name, type: a.type, nullable: true })) : await columns(db.client, p.relation!);
      expect(cols.length).toBeGreaterThan(0);
      for (const shape of shapes) {
        expect(Object.keys(shape).sort()).toEqual(cols.map((c) => c.name).sort());
        // A table function's columns (its own row schema; the tables' are checked below).
        if (out.length > 0) for (const c of cols) expectReads(shape[c.name]!, c.type, c.name);
      }
    });
  });

  describe.each([
    { table: "bisect_jobs", variants: JOB_VARIANTS },
    { table: "bisect_tasks", variants: TASK_VARIANTS },
  ])("the row schema of public.$table", ({ table, variants }) => {
    let cols: Column[];
    beforeAll(async () => {
      cols = await columns(db.client, table);
    });
    /** The column's field in each variant (a task kind has its own payload). */
    const fields = (name: string): z.ZodType[] => variants.flatMap((v) => (v.shape[name] ? [v.shape[name]] : []));

    it("has the table's columns", () => {
      expect(cols.length).toBeGreaterThan(10);
      for (const v of variants) expect(Object.keys(v.shape).sort()).toEqual(cols.map((c) => c.name).sort());
    });

    it("agrees on which columns may be null", () => {
      // Some variant (a task kind) may need a value the table would let be null; none may allow a null the table refuses.
      expect(Object.fromEntries(cols.map((c) => [c.name, fields(c.name).some(acceptsNull)]))).toEqual(
        Object.fromEntries(cols.map((c) => [c.name, c.nullable])),
      );
    });

    it("reads each column's values as the drivers hand them over", () => {
      for (const c of cols) for (const v of variants) expectReads(v.shape[c.name]!, c.type, c.name, v.kind);
    });

    it("allows the values the check constraints allow", async () => {
      const checked = await checkedValues(db.client, table);
      expect(checked.size).toBeGreaterThan(0);
      for (const [column, allowed] of checked) {
        const inSchema = [...new Set(fields(column).flatMap((f) => enumOf(f) ?? []))].sort();
        expect(inSchema, `${table}.${column}`).toEqual(allowed);
      }
      // And every enum the schema reads is one a check constraint lists, unless named as unchecked.
      for (const c of cols) {
        if (fields(c.name).some((f) => enumOf(f)) && !checked.has(c.name))
          expect(UNCHECKED_ENUMS[table], `${table}.${c.name}: an enum no check constraint lists`).toContain(c.name);
      }
    });
  });

  describe("rows read back", () => {
    let store: Store;
    beforeAll(() => {
      store = new Store(sqlTransport(db.client));
    });
    const read = async (table: string, id: number) => (await db.client.query(`select * from public.${table} where id = $1`, [id])).rows[0];

    it("a job, fresh and finished, parses with no column left over", async () => {
      const strict = z.strictObject(jobRowSchema.shape);
      const { job_id: id } = await store.call("createJob", newJob({ installationId: null, deliveryId: "72d3162e-cc78-11e3-81ab-4c9367dc0958" }));
      expect(strict.parse(await read("bisect_jobs", id))).toMatchObject({ id, state: "queued", verdict: null, installation_id: null });

      const [claimed] = await store.call("claimJobs", { worker: "worker-a", limit: 10, leaseSeconds: 30, maxActive: 100 });
      expect(claimed?.id).toBe(id);
      await store.call("recordDispatch", {
        jobId: id,
        token: claimed!.token,
        runId: 21_474_836_470,
        runUrl: "https://github.com/o/r/actions/runs/21474836470",
        checkAfterSeconds: 0,
      });
      const [again] = await store.call("claimJobs", { worker: "worker-a", limit: 1, leaseSeconds: 30, maxActive: 100 });
      await store.call("recordResult", {
        jobId: id,
        token: again!.token,
        verdict: "no-culprit",
        reason: "flake",
        culpritSha: null,
        confidence: 0.995,
        tested: 5,
        rounds: 4,
        error: null,
        probes: [{ sha: sha("c"), verdict: "bad", exitCode: 1, durationMs: 10, round: 1 }],
      });
      expect(strict.parse(await read("bisect_jobs", id))).toMatchObject({
        state: "succeeded",
        verdict: "no-culprit",
        reason: "flake",
        run_id: 21_474_836_470,
        confidence: 0.995,
      });
    });

    it("a task of each kind parses with no column left over", async () => {
      const strict = {
        parse(row: Record<string, unknown> | undefined) {
          const variant = taskRowSchema.options.find((o) => o.shape.kind.value === row?.kind);
          expect(variant, `a task of kind ${String(row?.kind)}`).toBeDefined();
          return z.strictObject(variant!.shape).parse(row);
        },
      };
      const base = { deliveryId: "d-1", repository: "octo-org/widgets", repositoryId: 5_000_000_101, installationId: 7_000_000_001, issueNumber: 3 };
      const command = await store.call("enqueueTask", { ...base, kind: "command", commentId: 1, payload: PAYLOADS.command });
      const reply = await store.call("enqueueTask", {
        ...base,
        kind: "reply",
        deliveryId: null,
        commentId: 2,
        payload: { body: "Done.", reaction: null, cancelRunId: null },
      });
      // An announce task: a job of a full repository.
      const [first, waiting] = [newJob({ repositoryId: 5_000_000_101 }), newJob({ repositoryId: 5_000_000_101 })];
      await store.call("createJob", first);
      const { job_id: waitingId } = await store.call("createJob", waiting);
      await store.call("claimJobs", { worker: "worker-a", limit: 10, leaseSeconds: 30, maxActive: 1 });
      const { rows } = await db.client.query<{ id: number }>("select id from public.bisect_tasks where kind = 'announce' and job_id = $1", [waitingId]);
      expect(rows).toHaveLength(1);

      expect(strict.parse(await read("bisect_tasks", command.task_id))).toMatchObject({ kind: "command", payload: PAYLOADS.command });
      expect(strict.parse(await read("bisect_tasks", reply.task_id))).toMatchObject({ kind: "reply", delivery_id: null });
      expect(strict.parse(await read("bisect_tasks", Number(rows[0]!.id)))).toMatchObject({ kind: "announce", job_id: waitingId, payload: {} });
      const claimed = await store.call("claimTasks", { worker: "worker-b", limit: 10, leaseSeconds: 30 });
      expect(claimed.map((t) => t.kind).sort()).toEqual(["announce", "command", "reply"]);
      for (const t of claimed) expect(strict.parse(await read("bisect_tasks", t.id))).toMatchObject({ locked_by: "worker-b", lease_token: t.token });
    });
  });
});
