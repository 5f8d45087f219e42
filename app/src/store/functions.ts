/**
 * Every SQL function the App calls, declared once: its name (`claimJobs` is
 * `public.bisect_claim_jobs`), its named arguments (`leaseSeconds` is `p_lease_seconds`) with
 * their PostgreSQL types, and its result with the zod schema that reads it. The transports and
 * the Store are derived from this table; a test checks it against the functions the migrations
 * create (names, argument names and types, rows or a value).
 */
import { z } from "zod";
import { probeSchema, reasonSchema } from "../../../action/src/result-document.js";
import { jobOptionsSchema } from "../job-options.js";
import {
  bigintColumn,
  claimedJobSchema,
  claimedTaskSchema,
  commandPayloadSchema,
  timestampColumn,
  jobRowSchema,
  jobStateSchema,
  jobVerdictSchema,
  freeVerdictSchema,
  redeliveryPassSchema,
  redRunPayloadSchema,
  redRunSchema,
  replyPayloadSchema,
  reportPayloadSchema,
  statsRowSchema,
  storedProbeSchema,
  taskRowSchema,
} from "./rows.js";

/** The PostgreSQL types of arguments, kept on their schemas (the SQL transport casts to them). */
const PG_TYPES = ["text", "integer", "bigint", "boolean", "double precision", "text[]", "jsonb"] as const;
export type PgType = (typeof PG_TYPES)[number];

const typed = <S extends z.ZodType>(pg: PgType, schema: S): S => schema.meta({ pg });

/** Reads an argument's PostgreSQL type back; every declared argument has one. */
export function pgTypeOf(schema: z.ZodType): PgType {
  const pg = schema.meta()?.pg;
  const found = PG_TYPES.find((t) => t === pg);
  if (found === undefined) throw new Error(`A store function argument has no PostgreSQL type (got ${String(pg)})`);
  return found;
}

const text = () => typed("text", z.string());
const maybeText = () => typed("text", z.string().nullable());
const integer = () => typed("integer", z.int());
const bigint = () => typed("bigint", z.int());
const maybeBigint = () => typed("bigint", z.int().nullable());
const textArray = () => typed("text[]", z.array(z.string()));
const jsonb = <S extends z.ZodType>(schema: S) => typed("jsonb", schema);

/** One answer from GitHub, as the budget records it (an element of noteGithubAnswers' batch). */
export const githubAnswerSchema = z.strictObject({
  installationId: z.int(),
  /** The write's slot, ended by this answer; null for a read. */
  slotId: z.int().nullable(),
  /** x-ratelimit-remaining, x-ratelimit-reset (seconds since the epoch); null when GitHub said nothing. */
  remaining: z.int().nullable(),
  resetEpoch: z.int().nullable(),
  /** How long GitHub asked the installation to wait; 0: no pause. */
  pauseSeconds: z.int().nonnegative(),
  reason: z.string().nullable(),
});
export type GithubAnswer = z.infer<typeof githubAnswerSchema>;

/** How a function answers: rows (set-returning and table functions), or one value. */
export type Returns = "rows" | "value";

function declare<A extends z.ZodRawShape, R extends z.ZodType>(args: A, returns: Returns, result: R) {
  return { args: z.strictObject(args), returns, result };
}
const rows = <A extends z.ZodRawShape, S extends z.ZodType>(args: A, row: S) => declare(args, "rows", z.array(row));
/** Exactly one row. */
const row = <A extends z.ZodRawShape, S extends z.ZodType>(args: A, one: S) =>
  declare(
    args,
    "rows",
    z.tuple([one]).transform(([first]) => first),
  );
/** One row, or none (undefined). */
const maybeRow = <A extends z.ZodRawShape, S extends z.ZodType>(args: A, one: S) =>
  declare(
    args,
    "rows",
    z.union([z.tuple([]), z.tuple([one])]).transform(([first]) => first),
  );
const value = <A extends z.ZodRawShape, S extends z.ZodType>(args: A, result: S) => declare(args, "value", result);

/** What `bisect_metrics_snapshot` answers: counts only for the reporter (null for the others). */
const metricsSnapshotSchema = z.object({
  reporter: z.boolean(),
  command_tasks: bigintColumn.nullable(),
  reply_tasks: bigintColumn.nullable(),
  announce_tasks: bigintColumn.nullable(),
  queued_jobs: bigintColumn.nullable(),
  dispatching_jobs: bigintColumn.nullable(),
  dispatched_jobs: bigintColumn.nullable(),
  running_jobs: bigintColumn.nullable(),
  overdue_jobs: bigintColumn.nullable(),
});

const job = { jobId: bigint() };
const held = { jobId: bigint(), token: bigint() };
const probes = jsonb(z.array(probeSchema));
/** A range's commits as [sha, parent sha, …], first parent first. */
const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;
export const rangeCommitsSchema = z.array(z.array(z.string().regex(SHA)).min(1));

export const FUNCTIONS = {
  // ── Job lifecycle (supabase/migrations/…0100_job_lifecycle.sql) ─────────────────────────────
  /** Inserts the job, or finds the one this delivery or comment already made. */
  createJob: row(
    {
      deliveryId: text(),
      repository: text(),
      repositoryId: bigint(),
      installationId: maybeBigint(),
      issueNumber: integer(),
      commentId: bigint(),
      requester: text(),
      goodRefs: textArray(),
      badRef: text(),
      goodShas: textArray(),
      badSha: text(),
      command: text(),
      options: jsonb(jobOptionsSchema),
      maxAttempts: integer(),
      /** `/bisect <run URL>`: the failed run, and what CI runs said of the range. */
      redRun: jsonb(redRunSchema.nullable().default(null)),
      freeVerdicts: jsonb(z.array(freeVerdictSchema).default([])),
    },
    z.object({ job_id: bigintColumn, created: z.boolean() }),
  ),
  /** Leases up to `limit` due jobs (at most `maxActive` active per repository; a job that must wait gets an announce task). */
  claimJobs: rows({ worker: text(), limit: integer(), leaseSeconds: integer(), maxActive: integer() }, claimedJobSchema),
  /** About to dispatch: from here on this attempt's run may exist, and a successor looks for it first. */
  recordDispatchIntent: value(held, z.boolean()),
  /** Fan-out: about to dispatch round `round` for `commits`: the dispatch intent, with what the round tests. */
  recordRoundIntent: value({ ...held, round: integer(), commits: textArray() }, z.boolean()),
  /** Fan-out: every commit of the round has its verdict: kept, and the held job dispatches the next round. */
  nextRound: value({ ...held, probes }, z.boolean()),
  /** Fan-out: the range's commits and parents, kept once (answers whether the job has them now). */
  setJobGraph: value({ ...held, commits: jsonb(rangeCommitsSchema), apiCalls: integer() }, z.boolean()),
  /** Fan-out: the range's commits and parents, if read already. */
  jobGraph: value(job, rangeCommitsSchema.nullable()),
  /** GitHub's rate limit held the dispatch back (no run, so no attempt): queued again uncounted, due after `seconds` at least, longer on repeats. */
  deferJob: value({ ...held, seconds: integer(), error: text() }, z.boolean()),
  setStatusComment: value({ ...held, commentId: bigint() }, z.boolean()),
  /** The run exists: the job is dispatched, with the status comment posted for it (null keeps the one known). */
  recordDispatch: value(
    { ...held, runId: bigint(), runUrl: text(), checkAfterSeconds: integer(), statusCommentId: typed("bigint", z.int().nullable().default(null)) },
    z.boolean(),
  ),
  /** The run is still going: look again after `seconds`, and give up the lease meanwhile. */
  checkLater: value({ ...held, seconds: integer() }, z.boolean()),
  /** A look at the job that came to nothing: looked at again after the backoff; answers the failed looks in a row. */
  checkFailed: value({ ...held, error: text(), retryAfterSeconds: integer() }, z.int().nullable()),
  /** A workflow_run / workflow_job event: running, or completed (due at once). Answers how many jobs it concerned. */
  noteRunEvent: value(
    { repositoryId: bigint(), runId: bigint(), runAttempt: integer(), jobId: maybeBigint(), status: text(), conclusion: maybeText() },
    z.int(),
  ),
  recordResult: value(
    {
      ...held,
      verdict: typed("text", jobVerdictSchema),
      reason: typed("text", reasonSchema.nullable()),
      culpritSha: maybeText(),
      confidence: typed("double precision", z.number().nullable()),
      tested: integer(),
      rounds: integer(),
      error: maybeText(),
      probes,
    },
    z.boolean(),
  ),
  /** An infrastructure failure: queued again after the backoff, or failed after the last attempt. Answers the new state (null without the lease). */
  failAttempt: value({ ...held, error: text(), retryAfterSeconds: integer(), probes }, jobStateSchema.nullable()),
  timeOutJob: value({ ...held, error: text(), tested: integer() }, z.boolean()),
  /** `/bisect cancel`: answers whether it was cancelled now, and the run to stop. */
  cancelJob: row({ ...job, by: text() }, z.object({ cancelled: z.boolean(), run_id: bigintColumn.nullable() })),
  /** `/bisect retry` of a job that ended: a new attempt (resuming, unless it had succeeded). */
  retryJob: value({ ...job, extraAttempts: integer() }, z.boolean()),

  // ── Automatic bisects (…1000_automatic_bisects.sql) ─────────────────────────────────────────
  /** One decision per (repository, workflow, red head): a new job, one joined, or none (over the day's budget). */
  createAutoJob: row(
    {
      deliveryId: text(),
      repository: text(),
      repositoryId: bigint(),
      installationId: maybeBigint(),
      workflow: text(),
      runId: bigint(),
      redRun: jsonb(redRunSchema),
      goodRefs: textArray(),
      badRef: text(),
      goodShas: textArray(),
      badSha: text(),
      command: text(),
      options: jsonb(jobOptionsSchema),
      freeVerdicts: jsonb(z.array(freeVerdictSchema)),
      maxAttempts: integer(),
      joinJobId: maybeBigint(),
      maxPerDay: integer(),
    },
    z.object({ job_id: bigintColumn.nullable(), outcome: z.string() }),
  ),
  /** The last day's automatic jobs with this command, newest first, 10 at most (whose range may hold a red head). */
  autoJobsFrom: rows({ repositoryId: bigint(), command: text() }, jobRowSchema),
  /** The issue an automatic job's answer opened becomes its thread (answers whether it is now). */
  setJobIssue: value({ jobId: bigint(), issueNumber: integer() }, z.boolean()),
  /** Queues a red run to look at, once per run. */
  enqueueRedRun: row(
    { deliveryId: text(), repository: text(), repositoryId: bigint(), installationId: maybeBigint(), runId: bigint(), payload: jsonb(redRunPayloadSchema) },
    z.object({ task_id: bigintColumn, created: z.boolean() }),
  ),
  /** Queues an automatic job's report (its issue), once per job. */
  enqueueReport: row({ jobId: bigint(), payload: jsonb(reportPayloadSchema) }, z.object({ task_id: bigintColumn, created: z.boolean() })),

  // ── Learned flake rates (…1100_flake_rates.sql) ─────────────────────────────────────────────
  /** A flaky bisect's measurement of its command's flake rate, pooled with the earlier ones. */
  noteFlakeEvidence: value({ repositoryId: bigint(), repository: text(), command: text(), cleanTests: integer(), falseFailures: integer() }, z.boolean()),
  /** What the command's earlier flaky bisects measured, pooled; none before the first. */
  flakeHistory: maybeRow({ repositoryId: bigint(), command: text() }, z.object({ clean_tests: z.int(), false_failures: z.int() })),

  // ── Task queue and leases (…0200_task_queue.sql) ────────────────────────────────────────────
  /** Queues a task, or finds the one of this kind for this comment. */
  enqueueTask: row(
    {
      kind: typed("text", z.enum(["command", "reply"])),
      deliveryId: maybeText(),
      repository: text(),
      repositoryId: bigint(),
      installationId: maybeBigint(),
      issueNumber: integer(),
      commentId: bigint(),
      payload: jsonb(z.union([commandPayloadSchema, replyPayloadSchema])),
    },
    z.object({ task_id: bigintColumn, created: z.boolean() }),
  ),
  claimTasks: rows({ worker: text(), limit: integer(), leaseSeconds: integer() }, claimedTaskSchema),
  finishTask: value({ taskId: bigint(), token: bigint(), outcome: text() }, z.boolean()),
  /** Retried after the backoff, or given up (permanent, or the last attempt) with an optional last reply. Answers the new state. */
  failTask: value(
    {
      taskId: bigint(),
      token: bigint(),
      error: text(),
      permanent: typed("boolean", z.boolean()),
      retryAfterSeconds: integer(),
      giveUpReply: jsonb(replyPayloadSchema.nullable()),
    },
    taskRowSchema.options[0].shape.state.nullable(),
  ),
  /** Not yet, and no failure: pending again after `seconds`, uncounted. */
  deferTask: value({ taskId: bigint(), token: bigint(), seconds: integer(), reason: text() }, z.boolean()),
  /** Keeps a lease (of a job, a task, or both) alive while GitHub calls run. */
  extendLease: value({ token: bigint(), leaseSeconds: integer() }, z.boolean()),
  /** Graceful shutdown: gives back what the token holds; not an attempt. */
  releaseLease: value({ token: bigint() }, z.boolean()),

  // ── Reads (…0300_reads_and_views.sql) ───────────────────────────────────────────────────────
  getJob: maybeRow(job, jobRowSchema),
  /** The latest job started from an issue or pull request. */
  latestJob: maybeRow({ repositoryId: bigint(), issueNumber: integer() }, jobRowSchema),
  /** Probes recorded for a job, every attempt, oldest first. */
  jobProbes: rows(job, storedProbeSchema),
  /** Runs the job's attempts recorded. */
  attemptRuns: rows(job, z.object({ attempt: z.int(), run_id: bigintColumn, started_at: timestampColumn })),
  /** 1 for the next queued job of its repository; null when the job is not queued. */
  queuePosition: value(job, z.int().nullable()),
  /** Whether this comment already made a job or a reply (a command handled twice makes nothing new). */
  commentHandled: value({ repositoryId: bigint(), commentId: bigint() }, z.boolean()),
  activeCounts: rows({}, z.object({ repository_id: bigintColumn, repository: z.string(), active: bigintColumn, queued: bigintColumn })),
  stats: row({ worker: text() }, statsRowSchema),

  // ── Pull request heads, as the pull_request webhooks said (…0600_pull_request_heads.sql) ────
  /** An opened, reopened or synchronize event: the pull request's head is `headSha` (moved now, unless it was already). Answers whether it moved. */
  notePullRequestHead: value({ repositoryId: bigint(), prNumber: integer(), headSha: text() }, z.boolean()),
  /** The latest head the App heard of for the pull request, and when it moved there. */
  pullRequestHead: maybeRow({ repositoryId: bigint(), prNumber: integer() }, z.object({ head_sha: z.string(), moved_at: timestampColumn })),

  // ── GitHub's rate limits, one budget for the cluster (…0400_github_budget.sql) ────────────────
  /** Before a request: paused (wait `wait_seconds`, send nothing); a read goes; a write gets a slot, or the wait until one frees. */
  takeGithubSlot: row(
    { installationId: bigint(), write: typed("boolean", z.boolean()), writesPerWindow: integer(), windowSeconds: integer() },
    z.object({ slot_id: bigintColumn.nullable(), wait_seconds: z.number(), paused: z.boolean(), reason: z.string().nullable() }),
  ),
  /**
   * After GitHub answered, several answers at once: per answer the quota it reported, the pause it
   * asked for (0: none), the write's slot ended. Answers how many of their installations are paused.
   */
  noteGithubAnswers: value({ answers: jsonb(z.array(githubAnswerSchema)) }, z.int()),

  // ── Webhook recovery (…0500_webhook_recovery.sql) ───────────────────────────────────────────
  /** The pass due now, for one instance of the cluster per interval; none when not due. */
  claimRedeliveryPass: maybeRow({ worker: text(), intervalSeconds: integer(), lookbackSeconds: integer() }, redeliveryPassSchema),
  /** The pass ended: its scan reached its bound (`complete`), or resumes next pass from `cursor`. */
  finishRedeliveryPass: value(
    { pass: bigint(), cursor: maybeText(), complete: typed("boolean", z.boolean()), listed: integer(), redelivered: integer(), error: maybeText() },
    z.boolean(),
  ),
  /** True when this caller is to ask GitHub to redeliver the guid: once, or again after every earlier redelivery failed, up to `maxRequests`. */
  claimRedelivery: value(
    { guid: text(), deliveryId: bigint(), event: text(), action: maybeText(), failedRedeliveries: integer(), maxRequests: integer() },
    z.boolean(),
  ),
  /** GitHub did not take the redelivery: given back to be asked again next pass (`retry`), or kept counted. */
  failRedelivery: value({ guid: text(), error: text(), retry: typed("boolean", z.boolean()) }, z.boolean()),

  // ── Cluster-wide metrics, exported by one instance at a time (…0700_metrics.sql) ───────────
  /** Takes or renews the reporter lease; the reporter gets work waiting per queue, unfinished jobs by state and jobs past their time limit, the others reporter false and nulls. */
  metricsSnapshot: row({ worker: text(), leaseSeconds: integer() }, metricsSnapshotSchema),
  /** An instance shutting down gives up the reporter lease (answers whether it held it). */
  releaseMetricsReporter: value({ worker: text() }, z.boolean()),

  // ── Retention (…0800_retention.sql) ──────────────────────────────────────────────────────────
  /** Deletes up to `batch` finished tasks and up to `batch` claim-audit rows older than `olderThanSeconds` (at least an hour); answers how many. */
  prune: value({ olderThanSeconds: integer(), batch: integer() }, z.number().int()),
};

export type StoreFunction = keyof typeof FUNCTIONS;
export type Declaration = (typeof FUNCTIONS)[StoreFunction];

/** `claimJobs` → `bisect_claim_jobs`. */
export function sqlName(fn: string): string {
  return `bisect_${snake(fn)}`;
}

/** `leaseSeconds` → `p_lease_seconds`. */
export function sqlArgument(name: string): string {
  return `p_${snake(name)}`;
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
