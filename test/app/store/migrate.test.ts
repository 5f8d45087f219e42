/**
 * The migration runner (app/src/store/migrate.ts) on PGlite and on a real PostgreSQL server:
 * many instances starting at the same moment apply each migration exactly once; a second run
 * applies nothing; a broken migration fails with its file name and leaves nothing half done.
 */
import { copyFile, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATIONS_DIR, migrate, pendingMigrations } from "../../../app/src/store/migrate.js";
import { pgClient, type SqlClient } from "../../../app/src/store/sql-client.js";
import { remoteVersions, supabaseDbPush } from "../../support/supabase-cli.js";
import { BACKENDS, openTestDatabase, startPostgres, stopTestPostgres, type TestDatabase } from "../../support/postgres.js";

/**
 * An advisory lock held in this test's database. pg_locks lists the whole server's, and other
 * test files migrate their own databases on the same server at the same time.
 */
const ADVISORY_LOCK_HERE =
  "select 1 from pg_catalog.pg_locks where locktype = 'advisory' and database = (select oid from pg_catalog.pg_database where datname = current_database())";

const MIGRATION_FILE = /^\d{14}_[\w-]+\.sql$/;

async function migrationFiles(dir = MIGRATIONS_DIR): Promise<string[]> {
  return (await readdir(dir)).filter((f) => MIGRATION_FILE.test(f)).sort();
}

async function appliedVersions(c: SqlClient): Promise<string[]> {
  const { rows } = await c.query<{ version: string }>("select version from supabase_migrations.schema_migrations order by version");
  return rows.map((r) => r.version);
}

async function exists(c: SqlClient, sql: string): Promise<boolean> {
  const { rows } = await c.query<{ yes: boolean }>(`select exists (${sql}) as yes`);
  return rows[0]!.yes;
}

/** A copy of the project's migrations plus `extra` files (name → SQL), in a temp dir. */
async function migrationsWith(extra: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "bisect-migrations-"));
  for (const file of await migrationFiles()) await copyFile(join(MIGRATIONS_DIR, file), join(dir, file));
  for (const [file, sql] of Object.entries(extra)) await writeFile(join(dir, file), sql);
  return dir;
}

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((d) => rm(d, { recursive: true, force: true })));
  await stopTestPostgres();
});

describe.each(BACKENDS)("migrate on %s", (backend) => {
  let db: TestDatabase;
  let versions: string[];
  beforeAll(async () => {
    db = await openTestDatabase(backend, { migrated: false });
    versions = (await migrationFiles()).map((f) => f.slice(0, 14));
    expect(versions.length).toBeGreaterThan(0);
  });
  afterAll(() => db?.close());

  it("applies each migration exactly once when 20 instances start at the same moment", async () => {
    // On PostgreSQL: 20 separate pools, as 20 app instances. PGlite is one process's one
    // connection: 20 callers at once there are 20 parts of one app.
    const clients = backend === "postgres" ? Array.from({ length: 20 }, () => pgClient(db.url!, { max: 1 })) : Array.from({ length: 20 }, () => db.client);
    try {
      const results = await Promise.allSettled(clients.map((c) => migrate(c)));
      const failures = results.flatMap((r) => (r.status === "rejected" ? [String((r.reason as Error).message)] : []));
      expect(failures).toEqual([]);
      const applied = results.flatMap((r) => (r.status === "fulfilled" ? r.value : []));
      expect(applied.sort()).toEqual(versions);
    } finally {
      if (backend === "postgres") await Promise.all(clients.map((c) => c.close()));
    }
    expect(await appliedVersions(db.client)).toEqual(versions);
    expect(await exists(db.client, ADVISORY_LOCK_HERE)).toBe(false);
  });

  it("applies nothing on a second run", async () => {
    const before = await db.client.query<{ version: string; name: string; statements: string[] }>(
      "select version, name, statements from supabase_migrations.schema_migrations order by version",
    );
    expect(await migrate(db.client)).toEqual([]);
    expect((await db.client.query("select version, name, statements from supabase_migrations.schema_migrations order by version")).rows).toEqual(before.rows);
  });

  it("fails a broken migration with its file name and leaves no part of it behind", async () => {
    const broken = "20991231235958_half_done.sql";
    const dir = await migrationsWith({
      [broken]: `
        create table public.half_done (id bigint primary key);
        alter table public.bisect_jobs add column half_done text;
        create function public.half_done_fn() returns integer language sql set search_path = '' as 'select 1';
        insert into public.half_done values (1);
        select 1 / 0;
        create table public.never_reached (id integer);`,
      "20991231235959_after.sql": "create table public.after_broken (id integer);",
    });
    temps.push(dir);

    await expect(migrate(db.client, dir)).rejects.toThrow(/Migration 20991231235958_half_done\.sql failed: division by zero/);
    const c = db.client;
    expect(await exists(c, "select 1 from pg_catalog.pg_class where relname in ('half_done', 'never_reached', 'after_broken')")).toBe(false);
    expect(await exists(c, "select 1 from information_schema.columns where table_name = 'bisect_jobs' and column_name = 'half_done'")).toBe(false);
    expect(await exists(c, "select 1 from pg_catalog.pg_proc where proname = 'half_done_fn'")).toBe(false);
    // Neither it nor anything after it is recorded; everything before it still is.
    expect(await appliedVersions(c)).toEqual(versions);
    // The lock is free and the session usable: the next instance tries again and fails the same way.
    expect(await exists(c, ADVISORY_LOCK_HERE)).toBe(false);
    await expect(migrate(c, dir)).rejects.toThrow(/20991231235958_half_done\.sql/);
    expect(await migrate(c)).toEqual([]);

    // Fixed, it applies, and then the next one.
    await writeFile(join(dir, broken), "create table public.half_done (id bigint primary key);");
    expect(await migrate(c, dir)).toEqual(["20991231235958", "20991231235959"]);
    await c.exec("drop table public.half_done, public.after_broken; delete from supabase_migrations.schema_migrations where version like '2099%';");
  });

  it("fails a migration with a syntax error with its file name", async () => {
    const dir = await migrationsWith({ "20991231235957_typo.sql": "create tabel public.typo (id integer);" });
    temps.push(dir);
    await expect(migrate(db.client, dir)).rejects.toThrow(/Migration 20991231235957_typo\.sql failed: syntax error at or near "tabel"/);
    expect(await appliedVersions(db.client)).toEqual(versions);
  });
});

describe("migrate on a fresh PostgreSQL database", () => {
  it("leaves no table in public, and an empty history, when the first migration fails", async () => {
    const db = await openTestDatabase("postgres", { migrated: false });
    const dir = await mkdtemp(join(tmpdir(), "bisect-migrations-"));
    temps.push(dir);
    await writeFile(join(dir, "20000101000000_first.sql"), "create table public.first (id integer);\nselect pg_catalog.nonexistent_function();");
    await copyFile(join(MIGRATIONS_DIR, (await migrationFiles())[0]!), join(dir, (await migrationFiles())[0]!));
    try {
      await expect(migrate(db.client, dir)).rejects.toThrow(
        /Migration 20000101000000_first\.sql failed: function pg_catalog\.nonexistent_function\(\) does not exist/,
      );
      const { rows } = await db.client.query<{ name: string }>(
        "select relname as name from pg_catalog.pg_class where relnamespace = 'public'::regnamespace and relkind = 'r'",
      );
      expect(rows.map((r) => r.name)).toEqual([]);
      expect(await appliedVersions(db.client)).toEqual([]);
    } finally {
      await db.close();
    }
  });
});

describe.each(BACKENDS)("one migration history with the Supabase CLI, on %s", (backend) => {
  it("supabase db push applies the first migrations, the App's runner the rest; then neither has anything to do", async () => {
    const db = await openTestDatabase(backend, { migrated: false });
    try {
      const versions = (await migrationFiles()).map((f) => f.slice(0, 14));
      const half = versions[Math.floor(versions.length / 2)]!;
      expect(await supabaseDbPush(db.client, MIGRATIONS_DIR, half)).toEqual(versions.filter((v) => v <= half));
      expect(await pendingMigrations(db.client)).toEqual((await migrationFiles()).filter((f) => f.slice(0, 14) > half));
      expect(await migrate(db.client)).toEqual(versions.filter((v) => v > half));
      expect(await remoteVersions(db.client)).toEqual(versions);
      expect(await supabaseDbPush(db.client, MIGRATIONS_DIR)).toEqual([]);
      expect(await migrate(db.client)).toEqual([]);
      // The runner's rows read as the CLI's: a name and the statements applied.
      const { rows } = await db.client.query<{ name: string | null; statements: string[] | null }>(
        "select name, statements from supabase_migrations.schema_migrations order by version desc limit 1",
      );
      expect(rows[0]!.name).toBe((await migrationFiles()).at(-1)!.slice(15, -4));
      expect(rows[0]!.statements?.join("")).toContain("create");
    } finally {
      await db.close();
    }
  });

  it("the App's runner applies everything, then supabase db push finds nothing to apply", async () => {
    const db = await openTestDatabase(backend, { migrated: false });
    try {
      const versions = (await migrationFiles()).map((f) => f.slice(0, 14));
      expect(await migrate(db.client)).toEqual(versions);
      expect(await supabaseDbPush(db.client, MIGRATIONS_DIR)).toEqual([]);
      expect(await pendingMigrations(db.client)).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it("a database the runner migrated before the history moved has its versions adopted, nothing applied twice", async () => {
    const db = await openTestDatabase(backend, { migrated: false });
    try {
      const versions = (await migrationFiles()).map((f) => f.slice(0, 14));
      await migrate(db.client);
      // As the old runner left it: its own table in public, and no Supabase history.
      await db.client.exec(
        "create table public.schema_migrations (version text primary key, applied_at timestamptz not null default now());" +
          "insert into public.schema_migrations (version) select version from supabase_migrations.schema_migrations;" +
          "drop schema supabase_migrations cascade;",
      );
      expect(await migrate(db.client)).toEqual([]);
      expect(await remoteVersions(db.client)).toEqual(versions);
      const { rows } = await db.client.query("select 1 from pg_catalog.pg_class where relname = 'schema_migrations' and relnamespace = 'public'::regnamespace");
      expect(rows).toEqual([]);
    } finally {
      await db.close();
    }
  });
});

describe("migrate on one PostgreSQL cluster without Supabase's roles", () => {
  // Roles belong to the cluster, and the migration lock to one database: two databases of one
  // server (staging and production, or parallel test files) migrating at the same moment both
  // try to create anon, authenticated and service_role. A fresh server, as plain PostgreSQL is.
  it("migrates four databases at the same moment", async () => {
    const server = await startPostgres({ supabaseRoles: false });
    try {
      const urls = await Promise.all([1, 2, 3, 4].map(() => server.createDatabase("cluster")));
      const clients = urls.map((url) => pgClient(url, { max: 1 }));
      try {
        const results = await Promise.allSettled(clients.map((c) => migrate(c)));
        const failures = results.flatMap((r) => (r.status === "rejected" ? [String((r.reason as Error).message)] : []));
        expect(failures).toEqual([]);
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    } finally {
      await server.stop();
    }
  });
});
