import { z } from "zod";
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
  constructor(private readonly transport: Transport) {}

  async call<F extends StoreFunction>(fn: F, args: ArgsOf<F>): Promise<ResultOf<F>> {
    const declaration = TABLE[fn];
    const name = sqlName(fn);
    const given: Record<string, unknown> = declaration.args.parse(args);
    const shape: Record<string, z.ZodType> = declaration.args.shape;
    const sent = Object.entries(shape).map(([arg, schema]) => ({ name: sqlArgument(arg), pg: pgTypeOf(schema), value: given[arg] }));
    const answer = await this.transport.call(name, sent, declaration.returns);
    const parsed = declaration.result.safeParse(answer);
    if (!parsed.success) throw new Error(`public.${name} answered an unexpected shape: ${z.prettifyError(parsed.error).slice(0, 500)}`);
    return parsed.data;
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}
