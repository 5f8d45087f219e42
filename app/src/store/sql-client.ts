import { PGlite } from "@electric-sql/pglite";
import pg from "pg";

/** The little the store needs from a PostgreSQL connection: parameterised queries and a close. */
export interface SqlClient {
  /**
   * One statement. `statement` names it when the same text is sent again and again: a client that
   * keeps prepared statements parses and plans it once per connection (see `pgClient`'s `prepare`).
   */
  query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: readonly unknown[], statement?: string): Promise<{ rows: T[] }>;
  /** Runs several statements (a migration file) as one script. */
  exec(sql: string): Promise<void>;
  /** Runs `fn` on one connection (session locks and transactions need that). */
  withSession<T>(fn: (session: SqlClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /** A pool's connections now (PostgreSQL); absent where there is no pool (PGlite). */
  poolStats?: () => PoolStats;
}

/** A connection pool's connections: open, idle among them, and callers waiting for one. */
export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/** How long the pool lets a connection and its statements take; see {@link pgClient}. */
export interface PoolTimeouts {
  /** The server cancels a statement running longer (PostgreSQL's `statement_timeout`). */
  statementTimeoutMs: number;
  /**
   * The client gives up on an answer after this long, whatever the server does: a connection cut
   * mid-query without a reset (a half-open socket, a failed-over host) fails the call and is
   * replaced, where it would otherwise wait for TCP to notice (many minutes).
   */
  queryTimeoutMs: number;
  /** The server ends a session left idle inside a transaction this long (a client that died mid-transaction holds no locks longer). */
  idleInTransactionMs: number;
  /** TCP keep-alive probes on idle connections start after this long, so a dead peer is noticed and the connection replaced. */
  keepAliveDelayMs: number;
  /** Connecting gives up after this long: a host that drops packets must fail, not hang. */
  connectionTimeoutMs: number;
}

export const POOL_TIMEOUTS: PoolTimeouts = {
  // Every statement of the store is a short function call; the slowest (a claim under load) takes
  // milliseconds. 30 s is far past any of them and well inside a lease.
  statementTimeoutMs: 30_000,
  queryTimeoutMs: 35_000,
  idleInTransactionMs: 60_000,
  keepAliveDelayMs: 10_000,
  connectionTimeoutMs: 10_000,
};

/**
 * A pooled node-postgres client (`DATABASE_URL`: self-hosted PostgreSQL or Supabase's
 * session/direct connection). Every connection has TCP keep-alive and statement, query and
 * idle-in-transaction timeouts (POOL_TIMEOUTS): a call fails within them whatever happens to the
 * connection, and a connection whose call failed is dropped from the pool, never reused. A
 * session (`withSession`, the migrations) has no timeouts of its own: waiting for another
 * instance's migrations takes as long as they take.
 */
export function pgClient(
  connectionString: string,
  options: {
    max?: number;
    timeouts?: Partial<PoolTimeouts>;
    /**
     * Named statements are prepared once per connection (default true). Off behind a transaction
     * pooler, whose next transaction may run on a server connection that never saw the PREPARE.
     */
    prepare?: boolean;
  } = {},
): SqlClient {
  const t = { ...POOL_TIMEOUTS, ...options.timeouts };
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    connectionTimeoutMillis: t.connectionTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: t.keepAliveDelayMs,
    statement_timeout: t.statementTimeoutMs,
    query_timeout: t.queryTimeoutMs,
    idle_in_transaction_session_timeout: t.idleInTransactionMs,
  });
  // A dropped idle connection must not crash the process; the next query reconnects.
  pool.on("error", () => undefined);
  const prepare = options.prepare ?? true;
  const on = (target: pg.Pool | pg.PoolClient, queryTimeout?: number): Omit<SqlClient, "withSession" | "close"> => ({
    async query<T extends Record<string, unknown>>(sql: string, params: readonly unknown[] = [], statement?: string) {
      const result = await target.query<T>({
        text: sql,
        values: [...params],
        ...(prepare && statement ? { name: statement } : {}),
        ...(queryTimeout ? { query_timeout: queryTimeout } : {}),
      });
      return { rows: result.rows };
    },
    async exec(sql) {
      await target.query({ text: sql, ...(queryTimeout ? { query_timeout: queryTimeout } : {}) });
    },
  });
  const client: SqlClient = {
    ...on(pool),
    async withSession(fn) {
      const connection = await pool.connect();
      let failure: Error | undefined;
      // A checked-out connection has no listener of the pool's: an error the server sends between
      // queries (it ended the session) would otherwise crash the process. It fails the session.
      const onError = (error: Error) => (failure ??= error);
      connection.on("error", onError);
      try {
        // No statement timeout in a session (a migration may wait for another instance's lock,
        // or rewrite a large table); the client's read timeout is a day, not none, so a dead
        // server still ends it.
        await connection.query("set statement_timeout = 0");
        return await fn({ ...on(connection, SESSION_QUERY_TIMEOUT_MS), withSession: (inner) => inner(client), close: () => Promise.resolve() });
      } catch (error) {
        failure = error instanceof Error ? error : new Error(String(error));
        throw error;
      } finally {
        // A connection whose session failed is in an unknown state (mid-transaction, cut off): dropped, not reused.
        if (failure === undefined)
          await connection.query("reset statement_timeout").catch((error: unknown) => (failure = error instanceof Error ? error : new Error(String(error))));
        connection.off("error", onError);
        connection.release(failure);
      }
    },
    close: () => pool.end(),
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
  };
  return client;
}

/** A session's client-side read timeout: long enough for any migration, short of forever. */
const SESSION_QUERY_TIMEOUT_MS = 24 * 3600 * 1000;

/** The embedded PGlite database (PostgreSQL in WebAssembly), files in `dataDir` or in memory. */
export async function pgliteClient(dataDir?: string): Promise<SqlClient> {
  return pgliteSqlClient(await PGlite.create(dataDir));
}

/** A SqlClient on an open PGlite database (closing the client closes it). */
export function pgliteSqlClient(db: PGlite): SqlClient {
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
