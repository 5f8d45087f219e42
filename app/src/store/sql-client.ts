import { PGlite } from "@electric-sql/pglite";
import pg from "pg";

/** The little the store needs from a PostgreSQL connection: parameterised queries and a close. */
export interface SqlClient {
  query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<{ rows: T[] }>;
  /** Runs several statements (a migration file) as one script. */
  exec(sql: string): Promise<void>;
  /** Runs `fn` on one connection (session locks and transactions need that). */
  withSession<T>(fn: (session: SqlClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A pooled node-postgres client (`DATABASE_URL`: self-hosted PostgreSQL or Supabase's session/direct connection). */
export function pgClient(connectionString: string, options: { max?: number } = {}): SqlClient {
  // A host that drops packets must fail the start-up, not hang it.
  const pool = new pg.Pool({ connectionString, max: options.max ?? 10, connectionTimeoutMillis: 10_000 });
  // A dropped idle connection must not crash the process; the next query reconnects.
  pool.on("error", () => undefined);
  const on = (target: pg.Pool | pg.PoolClient): Omit<SqlClient, "withSession" | "close"> => ({
    async query<T extends Record<string, unknown>>(sql: string, params: readonly unknown[] = []) {
      const result = await target.query<T>(sql, [...params]);
      return { rows: result.rows };
    },
    async exec(sql) {
      await target.query(sql);
    },
  });
  const client: SqlClient = {
    ...on(pool),
    async withSession(fn) {
      const connection = await pool.connect();
      try {
        return await fn({ ...on(connection), withSession: (inner) => inner(client), close: () => Promise.resolve() });
      } finally {
        connection.release();
      }
    },
    close: () => pool.end(),
  };
  return client;
}

/** The embedded PGlite database (PostgreSQL in WebAssembly), files in `dataDir` or in memory. */
export async function pgliteClient(dataDir?: string): Promise<SqlClient> {
  const db = await PGlite.create(dataDir);
  let sessions: Promise<unknown> = Promise.resolve();
  const client: SqlClient = {
    async query<T extends Record<string, unknown>>(sql: string, params: readonly unknown[] = []) {
      const result = await db.query<T>(sql, [...params]);
      return { rows: result.rows };
    },
    async exec(sql) {
      await db.exec(sql);
    },
    // PGlite has one connection, so a session lock cannot keep two callers apart (it is
    // re-entrant): sessions take turns in this process instead.
    withSession: (fn) => {
      const turn = sessions.then(() => fn(client));
      sessions = turn.catch(() => undefined);
      return turn;
    },
    close: () => db.close(),
  };
  return client;
}
