import { z } from "zod";
import { errorMessage } from "../../../action/src/error-message.js";
import type { PoolStats } from "./sql-client.js";
import { FUNCTIONS, pgTypeOf, sqlArgument, sqlName, type PgType, type Returns, type StoreFunction } from "./functions.js";

export type { ClaimedJob, ClaimedTask, JobRow, JobState, JobStats, Reaction, ReplyPayload, StoredProbe, TaskKind, TaskRow } from "./rows.js";

/** One argument of a call, as a transport sends it. */
export interface Argument {
  /** `p_lease_seconds`. */
  name: string;
  pg: PgType;
  value: unknown;
}

/**
 * How the Store reaches the database: one call of `public.<name>` with named arguments,
 * answering its rows (for `rows` functions) or its value. SQL (pg, PGlite) and PostgREST
 * (Supabase's `.rpc()`) implement it.
 */
export interface Transport {
  call(name: string, args: readonly Argument[], returns: Returns): Promise<unknown>;
  close(): Promise<void>;
  /** The connection pool's connections, where the transport has a pool. */
  poolStats?: () => PoolStats;
}

/**
 * The database refused the values of a call (SQLSTATE class 22, data exception, or 23, integrity
 * constraint): the same call will be refused again, so retrying it cannot help. Callers that
 * store what a run or GitHub said treat it as an unusable answer, never as a reason to retry.
 */
export class StoreDataError extends Error {
  override readonly name = "StoreDataError";
}

/** The SQLSTATE of a database error (pg, PGlite), or of the one a transport wrapped (PostgREST). */
function sqlState(error: unknown): string | undefined {
  const parsed = sqlStateSchema.safeParse(error);
  if (!parsed.success) return undefined;
  return parsed.data.code ?? parsed.data.cause?.code;
}
const sqlStateSchema = z.object({ code: z.string().optional(), cause: z.object({ code: z.string().optional() }).optional() });

/**
 * PostgreSQL text and jsonb cannot hold U+0000, and a value that holds one makes the whole call
 * fail. Text that reaches the store (an error message quoting a hostile artifact, a comment) has
 * each NUL replaced by U+FFFD, so no input can make a state change impossible to record.
 */
function storable(value: unknown): unknown {
  if (typeof value === "string") return value.includes("\u0000") ? value.replaceAll("\u0000", "\uFFFD") : value;
  if (Array.isArray(value)) return value.map(storable);
  if (value instanceof Date || value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, storable(v)]));
}

/** A function's SQL name and parameters (name and type), worked out once: they never change. */
interface Signature {
  name: string;
  params: { arg: string; name: string; pg: PgType }[];
}
const signatures = new Map<StoreFunction, Signature>();
function signature(fn: StoreFunction): Signature {
  let known = signatures.get(fn);
  if (!known) {
    const shape: Record<string, z.ZodType> = TABLE[fn].args.shape;
    known = { name: sqlName(fn), params: Object.entries(shape).map(([arg, schema]) => ({ arg, name: sqlArgument(arg), pg: pgTypeOf(schema) })) };
    signatures.set(fn, known);
  }
  return known;
}

/** The declarations seen per function, so that a generic key keeps its own result type. */
const TABLE: { [F in StoreFunction]: { args: z.ZodObject; returns: Returns; result: z.ZodType<ResultOf<F>> } } = FUNCTIONS;

export type ArgsOf<F extends StoreFunction> = z.input<(typeof FUNCTIONS)[F]["args"]>;
export type ResultOf<F extends StoreFunction> = z.output<(typeof FUNCTIONS)[F]["result"]>;

/**
 * The job store: every change of state is one SQL function of the migrations, declared once in
 * functions.ts; this calls it over a transport, checking the arguments going in and parsing the
 * answer coming out. Calls that act for a worker take its fencing token and answer false (or
 * null) when its lease has expired: a late worker changes nothing.
 *
 * @example
 * const store = new Store(sqlTransport(await pgliteClient()));
 * const [job] = await store.call("claimJobs", { worker: "worker-1", limit: 1, leaseSeconds: 60, maxActive: 4 });
 * await store.call("checkLater", { jobId: job.id, token: job.token, seconds: 30 });
 */
export class Store {
  /**
   * @param description Which database this is, fit for a log line (no password): "PostgreSQL at
   * postgres://***@db:5432/bisect".
   */
  constructor(
    private readonly transport: Transport,
    readonly description = "a database",
  ) {}

  /** The pool's connections (total, idle, callers waiting), or null where there is no pool (PGlite, PostgREST). */
  poolStats(): PoolStats | null {
    return this.transport.poolStats?.() ?? null;
  }

  async call<F extends StoreFunction>(fn: F, args: ArgsOf<F>): Promise<ResultOf<F>> {
    const declaration = TABLE[fn];
    const { name, params } = signature(fn);
    const given: Record<string, unknown> = declaration.args.parse(args);
    const sent = params.map((p) => ({ name: p.name, pg: p.pg, value: storable(given[p.arg]) }));
    let answer: unknown;
    try {
      answer = await this.transport.call(name, sent, declaration.returns);
    } catch (error) {
      throw sqlState(error)?.match(/^2[23]/) ? new StoreDataError(`public.${name} refused the values given: ${errorMessage(error)}`, { cause: error }) : error;
    }
    const parsed = declaration.result.safeParse(answer);
    if (!parsed.success) throw new Error(`public.${name} answered an unexpected shape: ${z.prettifyError(parsed.error).slice(0, 500)}`);
    return parsed.data;
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}
