/**
 * Test support: a real PostgreSQL server that the tests start by themselves, and the two
 * databases every SQL test runs on (PGlite in memory, and that server).
 *
 * `startPostgres()` runs Debian's server binaries (/usr/lib/postgresql/<newest>/bin, or
 * POSTGRES_BIN) on a throw-away cluster: `initdb` in a fresh temp dir, trust authentication,
 * 127.0.0.1 on a free port, the unix socket in that dir, durability off (fsync, full page
 * writes) because nothing here must survive a crash. `initdb` refuses to run as root, so as root
 * both it and the server run as the `postgres` user (`runuser`, else `su`).
 *
 * Never a leftover server: the server runs under a small shell that holds our end of a pipe.
 * When this process closes it (stop(), or this process dies in any way, even by SIGKILL) the
 * shell stops the server (fast shutdown) and deletes the temp dir.
 *
 * Cheap for many test files: `test/support/postgres-global-setup.ts` starts one server for the
 * whole run and hands it to the workers with `provide`; `testPostgres()` uses it, and starts a
 * server for the file when no global setup ran. Files isolate themselves with `createDatabase()`.
 *
 * PGlite: a fresh in-memory PGlite spends seconds in its own initdb. The global setup runs that
 * once and saves the empty cluster (`dumpDataDir`); `openTestDatabase("pglite")` then starts each
 * in-memory database from it (`loadDataDir`) in well under a second, still through the app's own
 * `pgliteClient()`. Migrations still run on every test database.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { migrate } from "../../app/src/store/migrate.js";
import { pgClient, pgliteClient, pgliteSqlClient, type SqlClient } from "../../app/src/store/sql-client.js";

export interface PostgresServer {
  /** Major version of the server binaries, e.g. "15". */
  readonly version: string;
  readonly port: number;
  /** Connection URL of a database on this server (default `postgres`), as the superuser `postgres`. */
  url(dbName?: string): string;
  /** Creates an empty database with a fresh name and returns its URL. */
  createDatabase(prefix?: string): Promise<string>;
  /** Stops the server and deletes its files. Idempotent; a no-op for a server shared by the run. */
  stop(): Promise<void>;
}

/** A server this process started: it can also be taken down and brought back, as in a database outage. */
export interface OwnPostgresServer extends PostgresServer {
  /** Stops the server as a restart does (fast shutdown: sessions end, new connections are refused); its data stays. */
  down(): Promise<void>;
  /** Starts it again on the same port with the same data, and waits until it answers. */
  up(): Promise<void>;
}

/** What the global setup hands to the test workers (it must be plain data). */
export type SharedPostgres = { port: number; version: string } | { error: string };

declare module "vitest" {
  export interface ProvidedContext {
    bisectPostgres?: SharedPostgres;
    /** A tar of an empty, initialised PGlite cluster (see preparePgliteTemplate). */
    bisectPgliteTemplate?: string;
    bisectPgliteMigratedTemplate?: string;
  }
}

export interface StartPostgresOptions {
  /**
   * Create Supabase's API roles (anon, authenticated, service_role) right after start, as a
   * Supabase database has them before any migration. Default true. (Roles belong to the
   * cluster; test files that migrate their own databases side by side would otherwise race
   * to create them.)
   */
  supabaseRoles?: boolean;
  /** Default 200: the concurrency tests open many connections. */
  maxConnections?: number;
}

const INSTALL_HINT =
  "Install the server with `apt-get install postgresql` (Debian/Ubuntu; the CI script does this), " +
  "or set POSTGRES_BIN to the directory that holds `initdb` and `postgres`.";

/** The directory with `initdb` and `postgres`: POSTGRES_BIN, Debian's newest, or PATH. */
export function findPostgresBin(): string {
  const hasServer = (dir: string) => existsSync(join(dir, "initdb")) && existsSync(join(dir, "postgres"));
  const fromEnv = process.env.POSTGRES_BIN;
  if (fromEnv) {
    if (hasServer(fromEnv)) return fromEnv;
    throw new Error(`POSTGRES_BIN=${fromEnv} does not hold initdb and postgres. ${INSTALL_HINT}`);
  }
  const debian = "/usr/lib/postgresql";
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => /^\d+(\.\d+)?$/.test(v) && hasServer(join(debian, v, "bin")))
      .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
    if (versions[0]) return join(debian, versions[0], "bin");
  }
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir && hasServer(dir)) return dir;
  }
  throw new Error(`No PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin and PATH). ${INSTALL_HINT}`);
}

/** Starts a throw-away PostgreSQL server; see the file header. */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<OwnPostgresServer> {
  const bin = findPostgresBin();
  const version = execFileSync(join(bin, "postgres"), ["--version"], { encoding: "utf8" }).match(/(\d+)(\.\d+)?/)?.[1] ?? "?";
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), "bisect-pg-"));
  try {
    if (asRoot) {
      const owner = postgresUser();
      chownSync(dir, owner.uid, owner.gid);
    }
    const data = join(dir, "data");
    const [initFile, initArgs] = command(asRoot, [join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"]);
    await runToEnd(initFile, initArgs, `initdb (in ${dir}; as root it runs as the postgres user, who must be able to reach that directory)`);

    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const server = spawnServer(asRoot, bin, dir, port, options.maxConnections ?? 200);
      try {
        await waitUntilReady(server, port, join(dir, "postgres.log"));
      } catch (error) {
        await server.stop();
        // Someone took the port between our probe and the server's bind: try another.
        if (attempt < 5 && /could not bind|address already in use/i.test(String((error as Error).message))) continue;
        throw error;
      }
      let current = server;
      const handle: OwnPostgresServer = {
        ...serverHandle(port, version, async () => {
          await current.stop();
          rmSync(dir, { recursive: true, force: true });
        }),
        down: () => haltKeepingData(current, dir),
        up: async () => {
          current = spawnServer(asRoot, bin, dir, port, options.maxConnections ?? 200);
          await waitUntilReady(current, port, join(dir, "postgres.log"));
        },
      };
      if (options.supabaseRoles ?? true) {
        await createSupabaseRoles(handle.url()).catch(async (error: unknown) => {
          await handle.stop();
          throw error;
        });
      }
      return handle;
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** A handle on a server someone else started and stops (the global setup's). */
export function attachPostgres(port: number, version: string): PostgresServer {
  return serverHandle(port, version, () => Promise.resolve());
}

let fileServer: Promise<PostgresServer> | undefined;

/**
 * The server for this test file: the run's shared one when the global setup started it, else
 * one started for this file (call `stopTestPostgres()` in an afterAll).
 */
export function testPostgres(): Promise<PostgresServer> {
  fileServer ??= (async () => {
    const { inject } = await import("vitest");
    const shared = inject("bisectPostgres");
    if (shared && "error" in shared) throw new Error(shared.error);
    if (shared) return attachPostgres(shared.port, shared.version);
    return startPostgres();
  })();
  return fileServer;
}

export async function stopTestPostgres(): Promise<void> {
  const server = fileServer;
  fileServer = undefined;
  if (server) await (await server.catch(() => undefined))?.stop();
}

/** The two databases every SQL test runs on. */
export const BACKENDS = ["pglite", "postgres"] as const;
export type Backend = (typeof BACKENDS)[number];

export interface TestDatabase {
  backend: Backend;
  client: SqlClient;
  /** The database's URL on the real server; undefined for PGlite. */
  url: string | undefined;
  close(): Promise<void>;
}

/**
 * What a Supabase project has before any migration: its API roles, and default privileges that
 * grant every table, sequence and function the migrating role creates in public to all three
 * (Supabase's `alter default privileges for role postgres in schema public grant all …`).
 */
export const SUPABASE_DEFAULT_PRIVILEGES = `
  do $$
  begin
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'anon') then create role anon nologin; end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticated') then create role authenticated nologin; end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'service_role') then create role service_role nologin bypassrls; end if;
  end
  $$;
  grant usage on schema public to anon, authenticated, service_role;
  alter default privileges in schema public grant all on tables to anon, authenticated, service_role;
  alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;
  alter default privileges in schema public grant all on functions to anon, authenticated, service_role;`;

/**
 * A fresh database: PGlite in memory, or a new database on the test server (`testPostgres()`).
 * Migrated with the project's migrations unless `migrated: false`; with `supabaseDefaults`, it
 * first gets Supabase's default privileges (SUPABASE_DEFAULT_PRIVILEGES), as a project has them.
 */
export async function openTestDatabase(
  backend: Backend,
  options: { migrated?: boolean; poolSize?: number; supabaseDefaults?: boolean } = {},
): Promise<TestDatabase> {
  let client: SqlClient;
  let url: string | undefined;
  const migrated = options.migrated ?? true;
  if (backend === "pglite") {
    await usePgliteTemplate();
    // From the migrated template when there is one (migrate() below then only reads the history).
    const from = migrated && !options.supabaseDefaults ? migratedTemplate : undefined;
    client = from ? pgliteSqlClient(await PGlite.create({ loadDataDir: from })) : await pgliteClient();
  } else {
    url = await (await testPostgres()).createDatabase();
    client = pgClient(url, { max: options.poolSize ?? 10 });
  }
  try {
    if (options.supabaseDefaults) await client.exec(SUPABASE_DEFAULT_PRIVILEGES);
    if (migrated) await migrate(client);
  } catch (error) {
    await client.close();
    throw error;
  }
  return { backend, client, url, close: () => client.close() };
}

/**
 * Runs PGlite's initdb once and saves the empty cluster to `<dir>/pglite-template.tar`, and the
 * same cluster with the project's migrations applied to `<dir>/pglite-migrated.tar` (a test
 * database then costs a load, not initdb and every migration). Returns both paths. For the
 * global setup.
 */
export async function preparePgliteTemplate(dir: string): Promise<{ empty: string; migrated: string }> {
  const db = await PGlite.create();
  const empty = join(dir, "pglite-template.tar");
  const migrated = join(dir, "pglite-migrated.tar");
  let blob: Blob;
  try {
    blob = await db.dumpDataDir("none");
    await writeFile(empty, Buffer.from(await blob.arrayBuffer()));
  } finally {
    await db.close();
  }
  const withMigrations = await PGlite.create({ loadDataDir: blob });
  try {
    await migrate(pgliteSqlClient(withMigrations));
    await writeFile(migrated, Buffer.from(await (await withMigrations.dumpDataDir("none")).arrayBuffer()));
  } finally {
    await withMigrations.close();
  }
  return { empty, migrated };
}

let templateInstalled: Promise<void> | undefined;
/** The migrated cluster openTestDatabase starts migrated PGlite databases from, when the global setup made one. */
let migratedTemplate: Blob | undefined;

/**
 * Once per test file: when the global setup made PGlite templates, in-memory PGlite databases
 * created without options (as `pgliteClient()` creates them) start from the empty one instead of
 * running initdb; the migrated one is kept for openTestDatabase. Data dirs and
 * explicit options are passed through untouched.
 */
function usePgliteTemplate(): Promise<void> {
  templateInstalled ??= (async () => {
    const { inject } = await import("vitest");
    const file = inject("bisectPgliteTemplate");
    if (!file) return;
    const blob = new Blob([await readFile(file)]);
    const migratedFile = inject("bisectPgliteMigratedTemplate");
    if (migratedFile) migratedTemplate = new Blob([await readFile(migratedFile)]);
    const original = PGlite.create.bind(PGlite) as (...args: unknown[]) => unknown;
    PGlite.create = ((...args: unknown[]) => original(...(args.every((a) => a === undefined) ? [{ loadDataDir: blob }] : args))) as typeof PGlite.create;
  })();
  return templateInstalled;
}

// ---------------------------------------------------------------------------------------------

function serverHandle(port: number, version: string, stop: () => Promise<void>): PostgresServer {
  let stopping: Promise<void> | undefined;
  let counter = 0;
  const url = (dbName = "postgres") => `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(dbName)}`;
  return {
    version,
    port,
    url,
    async createDatabase(prefix = "test") {
      const name = `${prefix}_${process.pid}_${++counter}_${Math.random().toString(36).slice(2, 8)}`.toLowerCase().replace(/[^a-z0-9_]/g, "_");
      await withConnection(url(), (c) => c.query(`create database "${name}"`));
      return url(name);
    },
    stop: () => (stopping ??= stop()),
  };
}

async function withConnection<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function createSupabaseRoles(url: string): Promise<void> {
  await withConnection(url, (c) =>
    c.query(`
      do $$
      begin
        if not exists (select 1 from pg_catalog.pg_roles where rolname = 'anon') then create role anon nologin; end if;
        if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticated') then create role authenticated nologin; end if;
        if not exists (select 1 from pg_catalog.pg_roles where rolname = 'service_role') then create role service_role nologin bypassrls; end if;
      end
      $$;`),
  );
}

function postgresUser(): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    return { uid, gid };
  } catch {
    throw new Error(`Running as root, but there is no \`postgres\` user to run initdb and the server as. ${INSTALL_HINT}`);
  }
}

/** `argv` as the postgres user when we are root (initdb and postgres refuse root). */
function command(asRoot: boolean, argv: string[]): [string, string[]] {
  if (!asRoot) return [argv[0]!, argv.slice(1)];
  const runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (runuser) return [runuser, ["-u", "postgres", "--", ...argv]];
  const quoted = argv.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  return ["su", ["postgres", "-s", "/bin/sh", "-c", quoted]];
}

function runToEnd(file: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", (error) => reject(new Error(`${what} could not start: ${error.message}`)));
    child.on("exit", (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${what} failed (${signal ?? `exit ${code}`}):\n${output.slice(-2000)}`));
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/**
 * The watchdog: runs the server in the background and waits for it. A subshell holds our pipe
 * on fd 3: when the pipe closes it stops the server (SIGINT is a fast shutdown), waits for it
 * and deletes the cluster's directory (not when the server had already exited: a failed start
 * keeps its cluster and log for the error message and the retry on another port).
 */
const WATCHDOG = `
dir=$1; shift
exec 3<&0
"$@" </dev/null >"$dir/postgres.log" 2>&1 &
pid=$!
( cat <&3 >/dev/null
  if kill -INT "$pid" 2>/dev/null; then
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    rm -rf "$dir"
  fi ) &
exec 3<&-
wait "$pid"
`;

interface RunningServer {
  child: ChildProcess;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

function spawnServer(asRoot: boolean, bin: string, dir: string, port: number, maxConnections: number): RunningServer {
  const argv = [
    join(bin, "postgres"),
    "-D",
    join(dir, "data"),
    "-p",
    String(port),
    "-k",
    dir,
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    `max_connections=${maxConnections}`,
    "-c",
    "fsync=off",
    "-c",
    "synchronous_commit=off",
    "-c",
    "full_page_writes=off",
    "-c",
    "shared_buffers=64MB",
  ];
  const [file, args] = command(asRoot, ["/bin/sh", "-c", WATCHDOG, "postgres-watchdog", dir, ...argv]);
  const child = spawn(file, args, { stdio: ["pipe", "ignore", "pipe"] });
  // Never keep the test process alive for the server's sake; stop() is what ends it.
  child.unref();
  for (const stream of [child.stdin, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
  child.stdin?.on("error", () => undefined);
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code) => resolve(code));
    child.on("error", (error) => {
      stderr += error.message;
      resolve(-1);
    });
  });
  let stopping: Promise<void> | undefined;
  return {
    child,
    exited,
    stop: () =>
      (stopping ??= (async () => {
        // Keep this process alive until the server is gone.
        child.ref();
        child.stdin?.end();
        const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), 15_000).unref());
        if ((await Promise.race([exited, timeout])) === "timeout") {
          // Fast shutdown hung: stop at once (immediate shutdown) by the postmaster's pid.
          try {
            const pid = Number(readFileSync(join(dir, "data", "postmaster.pid"), "utf8").split("\n")[0]);
            if (pid > 0) process.kill(pid, "SIGQUIT");
          } catch {
            // Already gone.
          }
          await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
        }
      })()),
  };
}

/**
 * Stops the postmaster itself (SIGINT: fast shutdown), then closes its watchdog's pipe: the
 * watchdog deletes the cluster only when it is the one that stops the server, so the data stays.
 */
async function haltKeepingData(server: RunningServer, dir: string): Promise<void> {
  server.child.ref();
  const pid = Number(readFileSync(join(dir, "data", "postmaster.pid"), "utf8").split("\n")[0]);
  process.kill(pid, "SIGINT");
  await server.exited;
  server.child.stdin?.end();
}

async function waitUntilReady(server: RunningServer, port: number, logFile: string): Promise<void> {
  let exited = false;
  void server.exited.then(() => (exited = true));
  const deadline = Date.now() + 30_000;
  const log = () => {
    try {
      return readFileSync(logFile, "utf8").slice(-2000);
    } catch {
      return "(no log)";
    }
  };
  for (;;) {
    if (exited) throw new Error(`PostgreSQL did not start on port ${port}:\n${log()}`);
    const client = new pg.Client({ host: "127.0.0.1", port, user: "postgres", database: "postgres", connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.query("select 1");
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error(`PostgreSQL was not ready on port ${port} after 30 s:\n${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
