/**
 * Which store the environment opens (app/src/store/open-store.ts), and its errors: PostgreSQL at
 * DATABASE_URL, Supabase with SUPABASE_URL and SUPABASE_SECRET_KEY, else the embedded PGlite
 * database in DATA_DIR. Errors name the variable and the fix, and never echo a password.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrateDatabase, openStore, storeConfig } from "../../../app/src/store/open-store.js";
import { newJob } from "../../support/jobs.js";
import { stopTestPostgres, testPostgres } from "../../support/postgres.js";

afterAll(() => stopTestPostgres());

describe("storeConfig", () => {
  it("chooses PostgreSQL, then Supabase, then the embedded database", () => {
    const databaseUrl = "postgres://bot:secret@db.example.com:5432/bisect";
    expect(storeConfig({ DATABASE_URL: databaseUrl, SUPABASE_URL: "https://x.supabase.co" })).toEqual({
      kind: "postgres",
      databaseUrl,
      migrationUrl: undefined,
      poolMax: 10,
    });
    const direct = "postgres://postgres:pw@db.abcd.supabase.co:5432/postgres";
    expect(
      storeConfig({
        DATABASE_URL: "postgres://postgres.abcd:pw@aws-0-eu-west-1.pooler.supabase.com:6543/postgres",
        MIGRATION_DATABASE_URL: direct,
        DATABASE_POOL_MAX: "4",
      }),
    ).toMatchObject({ kind: "postgres", migrationUrl: direct, poolMax: 4 });
    expect(storeConfig({ SUPABASE_URL: "https://abcd.supabase.co", SUPABASE_SECRET_KEY: "sb_secret_x" })).toEqual({
      kind: "supabase",
      url: "https://abcd.supabase.co",
      secretKey: "sb_secret_x",
    });
    expect(storeConfig({})).toEqual({ kind: "pglite", dataDir: ".data/" });
    // An empty line in a .env file is no configuration.
    expect(storeConfig({ DATABASE_URL: "", SUPABASE_URL: " ", DATA_DIR: "/var/lib/bisect" })).toEqual({ kind: "pglite", dataDir: "/var/lib/bisect" });
  });

  it("names the variable and the fix, and never echoes a password", () => {
    const bad = () => storeConfig({ DATABASE_URL: "mysql://bot:hunter2@db/bisect" });
    expect(bad).toThrow(/DATABASE_URL 'mysql:\/\/\*\*\*@db\/bisect' is not a PostgreSQL URL.*postgres:\/\/user:password@host:5432\/database/);
    expect(bad).not.toThrow(/hunter2/);
    expect(() => storeConfig({ DATABASE_URL: "db.example.com:5432" })).toThrow(/DATABASE_URL .* is not a PostgreSQL URL/);
    expect(() => storeConfig({ DATABASE_URL: "not a url" })).toThrow(/DATABASE_URL 'not a url' is not a URL/);
    expect(() => storeConfig({ SUPABASE_URL: "https://abcd.supabase.co" })).toThrow(
      /SUPABASE_URL is set but SUPABASE_SECRET_KEY is not\. Set SUPABASE_SECRET_KEY/,
    );
    expect(() => storeConfig({ SUPABASE_SECRET_KEY: "sb_secret_x" })).toThrow(/SUPABASE_SECRET_KEY is set but SUPABASE_URL is not/);
    expect(() => storeConfig({ SUPABASE_URL: "abcd.supabase.co", SUPABASE_SECRET_KEY: "sb_secret_x" })).toThrow(/SUPABASE_URL 'abcd.supabase.co' is not a URL/);
    expect(() => storeConfig({ SUPABASE_URL: "postgresql://postgres:pw@db.abcd.supabase.co:5432/postgres", SUPABASE_SECRET_KEY: "k" })).toThrow(
      /SUPABASE_URL .* is a database connection string\. Put it in DATABASE_URL/,
    );
    expect(() => storeConfig({ SUPABASE_URL: "https://abcd.supabase.co/rest/v1/", SUPABASE_SECRET_KEY: "k" })).toThrow(
      /project URL alone: https:\/\/abcd.supabase.co/,
    );
    expect(() => storeConfig({ DATABASE_URL: "postgres://db/bisect", DATABASE_POOL_MAX: "lots" })).toThrow(
      /DATABASE_POOL_MAX 'lots' is not a number of connections from 1 to 1000\. Unset it for 10/,
    );
    expect(() =>
      storeConfig({
        DATABASE_URL: "postgres://db/bisect",
        MIGRATION_DATABASE_URL: "postgres://postgres.abcd:hunter2@aws-0-eu-west-1.pooler.supabase.com:6543/postgres",
      }),
    ).toThrow(
      /MIGRATION_DATABASE_URL 'postgres:\/\/\*\*\*@aws-0-eu-west-1\.pooler\.supabase\.com:6543\/postgres' is a transaction pooler.*session pooler \(port 5432\)/,
    );
  });

  it("refuses the embedded database in production, saying why", () => {
    expect(() => storeConfig({ NODE_ENV: "production" })).toThrow(
      /NODE_ENV is production, but neither DATABASE_URL nor SUPABASE_URL is set\. The embedded database \(PGlite in DATA_DIR\) is for one process/,
    );
    expect(storeConfig({ NODE_ENV: "production", DATABASE_URL: "postgres://db/bisect" })).toMatchObject({ kind: "postgres" });
    expect(storeConfig({ NODE_ENV: "development" })).toMatchObject({ kind: "pglite" });
  });
});

describe("openStore", () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "bisect-store-"));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it("keeps jobs in DATA_DIR across restarts, creating the directory", async () => {
    const dir = join(dataDir, "nested", "data");
    const first = await openStore({ DATA_DIR: dir });
    const { job_id } = await first.call("createJob", newJob({ deliveryId: "persisted" }));
    await first.close();

    const second = await openStore({ DATA_DIR: dir });
    try {
      expect(await second.call("getJob", { jobId: job_id })).toMatchObject({ delivery_id: "persisted", state: "queued" });
    } finally {
      await second.close();
    }
  });

  it("opens PostgreSQL at DATABASE_URL with the schema in place, however many instances start at once", async () => {
    const env = { DATABASE_URL: await (await testPostgres()).createDatabase() };
    const stores = await Promise.all([openStore(env), openStore(env), openStore(env)]);
    try {
      const { job_id } = await stores[0].call("createJob", newJob({ deliveryId: "on-postgres" }));
      expect(await stores[2].call("getJob", { jobId: job_id })).toMatchObject({ delivery_id: "on-postgres", state: "queued" });
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it("through a transaction pooler, refuses a database that lacks migrations and says to run migrate; after migrate, opens it and says which store", async () => {
    const url = await (await testPostgres()).createDatabase();
    // pgbouncer=true marks a transaction pooler (as Prisma and others spell it), whatever the port.
    const pooled = `${url}?pgbouncer=true`;
    await expect(openStore({ DATABASE_URL: pooled })).rejects.toThrow(
      /lacks \d+ migration\(s\) \(20261201000000_tables\.sql, .*and DATABASE_URL is a transaction pooler, where migrations cannot run\. Run the image with the argument 'migrate'/,
    );
    expect((await migrateDatabase({ DATABASE_URL: pooled, MIGRATION_DATABASE_URL: url })).applied).toContain("20261201000000");
    expect((await migrateDatabase({ DATABASE_URL: url })).applied).toEqual([]);
    const store = await openStore({ DATABASE_URL: pooled, DATABASE_POOL_MAX: "3" });
    try {
      expect(store.description).toMatch(/^PostgreSQL at postgres:\/\/.*127\.0\.0\.1:\d+\/\S+ \(3 connections at most\)$/);
      await Promise.all(Array.from({ length: 8 }, (_, i) => store.call("createJob", newJob({ deliveryId: `pooled-${i}` }))));
      expect(store.poolStats()!.total).toBeLessThanOrEqual(3);
    } finally {
      await store.close();
    }
  });

  it("runs pending migrations through MIGRATION_DATABASE_URL when it is given", async () => {
    const server = await testPostgres();
    const url = await server.createDatabase();
    const store = await openStore({ DATABASE_URL: `${url}?pgbouncer=true`, MIGRATION_DATABASE_URL: url });
    try {
      const { job_id } = await store.call("createJob", newJob({ deliveryId: "migrated-apart" }));
      expect(job_id).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });

  it("migrate without a database URL, or through a transaction pooler, is refused with the fix", async () => {
    await expect(migrateDatabase({ SUPABASE_URL: "https://abcd.supabase.co", SUPABASE_SECRET_KEY: "k" })).rejects.toThrow(
      /Nothing to migrate: set MIGRATION_DATABASE_URL \(or DATABASE_URL\).*or run 'supabase db push'/,
    );
    await expect(migrateDatabase({ DATABASE_URL: "postgres://postgres.abcd:hunter2@aws-0-eu-west-1.pooler.supabase.com:6543/postgres" })).rejects.toThrow(
      /DATABASE_URL .* is a transaction pooler/,
    );
  });

  it("says which server it cannot reach", async () => {
    await expect(openStore({ DATABASE_URL: "postgres://bot:hunter2@127.0.0.1:1/bisect" })).rejects.toThrow(
      /Cannot reach the database at DATABASE_URL 'postgres:\/\/\*\*\*@127\.0\.0\.1:1\/bisect': .*ECONNREFUSED/,
    );
  });
});
