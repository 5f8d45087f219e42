/**
 * The schema documents itself: every table, column, view and view column in public carries a
 * COMMENT, which the Supabase dashboard shows next to it. Read from the catalogs after the
 * migrations ran, on PGlite and on a real PostgreSQL server, so whatever a new migration adds
 * is covered. (The migration history lives outside public, in Supabase's own
 * supabase_migrations.schema_migrations.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SqlClient } from "../../app/src/store/sql-client.js";
import { BACKENDS, openTestDatabase, stopTestPostgres, type TestDatabase } from "../support/postgres.js";

/** Nothing in public is exempt. */
const EXEMPT: string[] = [];

/** Every table and view in public, and every column of each, that has no comment (or a blank one). */
async function uncommented(c: SqlClient): Promise<string[]> {
  const { rows } = await c.query<{ object: string }>(
    `select case when c.relkind in ('v', 'm') then 'view ' else 'table ' end || c.relname as object
     from pg_catalog.pg_class c
     where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
       and coalesce(btrim(pg_catalog.obj_description(c.oid, 'pg_class')), '') = ''
       and c.relname <> all ($1::text[])
     union all
     select 'column ' || c.relname || '.' || a.attname
     from pg_catalog.pg_class c
     join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
     where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
       and coalesce(btrim(pg_catalog.col_description(c.oid, a.attnum)), '') = ''
       and c.relname <> all ($1::text[])
     order by 1`,
    [EXEMPT],
  );
  return rows.map((r) => r.object);
}

afterAll(() => stopTestPostgres());

describe.each(BACKENDS)("comments on the schema on %s", (backend) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await openTestDatabase(backend);
  });
  afterAll(() => db?.close());

  it("has a comment on every table, column, view and view column in public", async () => {
    const { rows } = await db.client.query<{ n: number }>(
      "select count(*)::int as n from pg_catalog.pg_class where relnamespace = 'public'::regnamespace and relkind in ('r', 'v') and relname <> all ($1::text[])",
      [EXEMPT],
    );
    // The five tables and two views at least: the check looked at them.
    expect(rows[0]!.n).toBeGreaterThanOrEqual(7);
    expect(await uncommented(db.client)).toEqual([]);
  });

  it("exempts only the migration runner's own table", async () => {
    const { rows } = await db.client.query<{ name: string }>(
      "select relname as name from pg_catalog.pg_class where relnamespace = 'public'::regnamespace and relname = any ($1::text[]) and relkind = 'r'",
      [EXEMPT],
    );
    expect(rows.map((r) => r.name)).toEqual(EXEMPT);
  });

  it("catches what it is meant to catch: a table, a column, a view and a blank comment (created and rolled back)", async () => {
    await db.client.withSession(async (s) => {
      await s.exec("begin");
      try {
        await s.exec(`
          create table public.zz_bare (id integer, note text);
          comment on column public.zz_bare.id is 'Row id.';
          comment on column public.zz_bare.note is '  ';
          alter table public.bisect_jobs add column zz_extra text;
          create view public.zz_bare_view as select 1 as one;
          comment on view public.zz_bare_view is 'A view.';`);
        expect(await uncommented(s)).toEqual(["column bisect_jobs.zz_extra", "column zz_bare.note", "column zz_bare_view.one", "table zz_bare"]);
      } finally {
        await s.exec("rollback");
      }
    });
    expect(await uncommented(db.client)).toEqual([]);
  });
});
