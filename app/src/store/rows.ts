/**
 * The rows the store's functions answer with, as zod schemas: written once here, checked against
 * the tables the migrations create (test/app/store/functions.test.ts), and the source of every
 * row type (`z.infer`).
 */
import { z } from "zod";
import { probeSchema, reasonSchema, resultDocumentSchema } from "../../../action/src/result-document.js";
import { jobOptionsSchema } from "../job-options.js";

/** A bigint column: pg sends a string, PGlite a number or BigInt; never silently rounded or 0. */
export const bigintColumn = z
  .union([z.number(), z.bigint(), z.string().regex(/^-?\d+$/)])
  .transform(Number)
  .refine(Number.isSafeInteger, { error: "expected an integer within JavaScript's safe range" });
/** A timestamptz column, as a Date (null is not 1970): pg and PGlite send a Date, PostgREST text. */
export const timestampColumn = z.union([z.date(), z.string().min(1)]).transform((v) => new Date(v));

export const jobStateSchema = z.enum(["queued", "dispatching", "dispatched", "running", "succeeded", "failed", "cancelled", "timed_out"]);
export type JobState = z.infer<typeof jobStateSchema>;
/** The answers a job records: the result document's final verdicts. */
export const jobVerdictSchema = resultDocumentSchema.shape.verdict.exclude(["interrupted", "searching"]);

/** What jobs and tasks both have: attempts against a cap, and the lease of whoever holds them. */
const attemptsAndLease = {
  attempts: z.number().int(),
  max_attempts: z.number().int(),
  locked_by: z.string().nullable(),
  lease_token: bigintColumn.nullable(),
  lease_expires_at: timestampColumn.nullable(),
};

/** The failed workflow run a job's range ends at (automatic bisects, `/bisect <run URL>`). */
export const redRunSchema = z.object({ id: z.int(), url: z.string(), workflow: z.string(), number: z.int() });
export type RedRun = z.infer<typeof redRunSchema>;
/** A verdict a completed CI run gave for a commit of the range: known before the bisect starts. */
export const freeVerdictSchema = z.object({ sha: z.string(), verdict: z.enum(["good", "bad"]), runId: z.int() });
export type FreeVerdict = z.infer<typeof freeVerdictSchema>;

/** A job as stored in public.bisect_jobs. */
export const jobRowSchema = z.object({
  id: bigintColumn,
  delivery_id: z.string(),
  repository: z.string(),
  repository_id: bigintColumn,
  installation_id: bigintColumn.nullable(),
  /** Null for an automatic bisect until its issue is opened. */
  issue_number: z.number().int().nullable(),
  /** Null for an automatic bisect (no comment asked for it). */
  comment_id: bigintColumn.nullable(),
  requester: z.string(),
  origin: z.enum(["comment", "auto"]).default("comment"),
  red_run: redRunSchema.nullable().default(null),
  free_verdicts: z.array(freeVerdictSchema).default([]),
  good_refs: z.array(z.string()),
  bad_ref: z.string(),
  good_shas: z.array(z.string()),
  bad_sha: z.string(),
  command: z.string(),
  options: jobOptionsSchema,
  state: jobStateSchema,
  next_check_at: timestampColumn,
  ...attemptsAndLease,
  dispatch_intent_attempt: z.number().int().nullable(),
  run_id: bigintColumn.nullable(),
  run_url: z.string().nullable(),
  dispatched_at: timestampColumn.nullable(),
  noted_run_id: bigintColumn.nullable(),
  noted_conclusion: z.string().nullable(),
  noted_run_attempt: z.int().nullable(),
  failed_checks: z.int(),
  resume_from_attempt: z.number().int(),
  status_comment_id: bigintColumn.nullable(),
  round: z.int().default(0),
  round_commits: z.array(z.string()).default([]),
  runner_jobs: z.int().default(0),
  runner_minutes: z.int().default(0),
  verdict: jobVerdictSchema.nullable(),
  reason: reasonSchema.nullable(),
  culprit_sha: z.string().nullable(),
  confidence: z.number().nullable(),
  tested: z.number().int().nullable(),
  rounds: z.number().int().nullable(),
  error: z.string().nullable(),
  cancelled_by: z.string().nullable(),
  created_at: timestampColumn,
  updated_at: timestampColumn,
  started_at: timestampColumn.nullable(),
  finished_at: timestampColumn.nullable(),
});
export type JobRow = z.infer<typeof jobRowSchema>;

export const reactionSchema = z.enum(["+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"]);
export type Reaction = z.infer<typeof reactionSchema>;

/** What a command task carries: the comment as the webhook received it, and when it was written (GitHub's clock). */
export const commandPayloadSchema = z.strictObject({
  body: z.string(),
  requester: z.string(),
  isPullRequest: z.boolean(),
  commentedAt: z.iso.datetime({ offset: true }),
});
/** What a reply task carries: the comment to post, a reaction to the user's, a run to cancel first (`/bisect cancel`). */
export const replyPayloadSchema = z.strictObject({ body: z.string(), reaction: reactionSchema.nullable(), cancelRunId: bigintColumn.nullable() });
export type ReplyPayload = z.infer<typeof replyPayloadSchema>;

/** What a red-run task carries: the failed run, as its workflow_run webhook said. */
export const redRunPayloadSchema = z.strictObject({
  runId: z.int(),
  runAttempt: z.int(),
  runNumber: z.int(),
  workflowId: z.int(),
  /** `.github/workflows/ci.yml`. */
  workflowPath: z.string(),
  headSha: z.string(),
  headBranch: z.string().nullable(),
  event: z.string(),
  url: z.string(),
  /** The repository the run's head came from (a fork's pull request has another). */
  headRepositoryId: z.int().nullable(),
});
export type RedRunPayload = z.infer<typeof redRunPayloadSchema>;
/** What a report task carries: the issue to open, and the culprit's pull request to tell. */
export const reportPayloadSchema = z.strictObject({
  title: z.string(),
  body: z.string(),
  culpritSha: z.string(),
  pullRequest: z.int().nullable(),
});
export type ReportPayload = z.infer<typeof reportPayloadSchema>;

const taskFields = {
  id: bigintColumn,
  delivery_id: z.string().nullable(),
  repository: z.string(),
  repository_id: bigintColumn,
  installation_id: bigintColumn.nullable(),
  issue_number: z.number().int(),
  comment_id: bigintColumn,
  run_id: bigintColumn.nullable().default(null),
  job_id: bigintColumn.nullable(),
  state: z.enum(["pending", "done", "failed"]),
  run_at: timestampColumn,
  ...attemptsAndLease,
  outcome: z.string().nullable(),
  error: z.string().nullable(),
  created_at: timestampColumn,
  finished_at: timestampColumn.nullable(),
};

const noThread = { issue_number: z.int().nullable(), comment_id: bigintColumn.nullable() };

/** A task as stored in public.bisect_tasks: its payload's shape depends on its kind. */
export const taskRowSchema = z.discriminatedUnion("kind", [
  z.object({ ...taskFields, kind: z.literal("command"), payload: commandPayloadSchema, delivery_id: z.string() }),
  z.object({ ...taskFields, kind: z.literal("reply"), payload: replyPayloadSchema }),
  z.object({ ...taskFields, kind: z.literal("announce"), payload: z.strictObject({}), job_id: bigintColumn }),
  // About no comment: a red run (its run id) and an automatic job's report (its job).
  z.object({ ...taskFields, kind: z.literal("red-run"), payload: redRunPayloadSchema, ...noThread, run_id: bigintColumn }),
  z.object({ ...taskFields, kind: z.literal("report"), payload: reportPayloadSchema, ...noThread, job_id: bigintColumn }),
]);
export type TaskRow = z.infer<typeof taskRowSchema>;
export type TaskKind = TaskRow["kind"];

/** A claimed row: its lease token is the fencing token every later call presents (`token`). */
function leased<T extends { lease_token: number | null }>(schema: z.ZodType<T>) {
  return schema.transform((row, ctx) => {
    if (row.lease_token === null) {
      ctx.addIssue({ code: "custom", message: "a claim answered a row without a lease token" });
      return z.NEVER;
    }
    return { ...row, token: row.lease_token };
  });
}
export const claimedJobSchema = leased(jobRowSchema);
export type ClaimedJob = z.infer<typeof claimedJobSchema>;
export const claimedTaskSchema = leased(taskRowSchema);
export type ClaimedTask = z.infer<typeof claimedTaskSchema>;

/** A probe as stored: the result document's probe, and the attempt that ran it. */
export const storedProbeSchema = z
  .object({
    attempt: z.number().int(),
    sha: z.string(),
    verdict: probeSchema.shape.verdict,
    exit_code: z.number().int().nullable(),
    duration_ms: z.number().int(),
    round: z.number().int(),
  })
  .transform((p) => ({ attempt: p.attempt, sha: p.sha, verdict: p.verdict, exitCode: p.exit_code, durationMs: p.duration_ms, round: p.round }));
export type StoredProbe = z.infer<typeof storedProbeSchema>;

export const statsRowSchema = z.object({
  pending: bigintColumn,
  running: bigintColumn,
  completed: bigintColumn,
  failed: bigintColumn,
  cancelled: bigintColumn,
  running_on_this_instance: bigintColumn,
});
export type JobStats = z.infer<typeof statsRowSchema>;

/** A claimed pass of the webhook recovery loop: how far back it looks, and where it resumes (null: the newest delivery). */
export const redeliveryPassSchema = z.object({
  pass: bigintColumn,
  since: timestampColumn,
  resume_cursor: z.string().nullable(),
});
export type RedeliveryPass = z.infer<typeof redeliveryPassSchema>;
