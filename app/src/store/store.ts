import { z } from "zod";

/** A bigint column: pg sends a string, PGlite a number or BigInt; never silently rounded or 0. */
const bigintColumn = z
  .union([z.number(), z.bigint(), z.string().regex(/^-?\d+$/)])
  .transform(Number)
  .refine(Number.isSafeInteger, { error: "expected an integer within JavaScript's safe range" });
/** A timestamptz column, as a Date (null is not 1970). */
const timestampColumn = z.union([z.date(), z.string().min(1)]).transform((v) => new Date(v));

/**
 * A job as stored in public.bisect_jobs. Written once here; a test checks these fields against
 * the columns the migrations create (names, nullability), so the two cannot drift apart.
 */
export const jobRowSchema = z.object({
  id: bigintColumn,
  delivery_id: z.string(),
  repository: z.string(),
  repository_id: bigintColumn,
  installation_id: bigintColumn.nullable(),
  issue_number: z.number().int(),
  comment_id: bigintColumn,
  requester: z.string(),
  good_refs: z.array(z.string()),
  bad_ref: z.string(),
  good_shas: z.array(z.string()),
  bad_sha: z.string(),
  command: z.string(),
  options: z.record(z.string(), z.unknown()),
  state: z.enum(["queued", "dispatching", "dispatched", "running", "succeeded", "failed", "cancelled", "timed_out"]),
  attempts: z.number().int(),
  max_attempts: z.number().int(),
  next_check_at: timestampColumn,
  locked_by: z.string().nullable(),
  lease_token: bigintColumn.nullable(),
  lease_expires_at: timestampColumn.nullable(),
  run_id: bigintColumn.nullable(),
  run_url: z.string().nullable(),
  status_comment_id: bigintColumn.nullable(),
  dispatch_intent_attempt: z.number().int().nullable(),
  dispatched_at: timestampColumn.nullable(),
  noted_run_id: bigintColumn.nullable(),
  noted_conclusion: z.string().nullable(),
  resume_from_attempt: z.number().int(),
  verdict: z.enum(["culprit", "ambiguous", "no-culprit", "error"]).nullable(),
  culprit_sha: z.string().nullable(),
  confidence: z.number().nullable(),
  tested: z.number().int().nullable(),
  rounds: z.number().int().nullable(),
  error: z.string().nullable(),
  created_at: timestampColumn,
  updated_at: timestampColumn,
  started_at: timestampColumn.nullable(),
  finished_at: timestampColumn.nullable(),
});
export type JobRow = z.infer<typeof jobRowSchema>;
export type JobState = JobRow["state"];

/**
 * The other rows the job functions answer with, shared by every adapter (the SQL stores get them
 * as rows, the Supabase store inside PostgREST's JSON).
 */
export const createdRowSchema = z.object({ job_id: bigintColumn, created: z.boolean() });
export const cancelRowSchema = z.object({ cancelled: z.boolean(), run_id: bigintColumn.nullable() });
export const activeCountRowSchema = z.object({ repository_id: bigintColumn, repository: z.string(), active: bigintColumn, queued: bigintColumn });
export const probeRowSchema = z.object({
  attempt: z.number().int(),
  sha: z.string(),
  verdict: z.enum(["good", "bad", "skip", "error"]),
  exit_code: z.number().int().nullable(),
  duration_ms: z.number().int(),
  round: z.number().int(),
});

/** A /bisect comment waiting in the inbox (public.bisect_commands). */
export const commandRowSchema = z.object({
  id: bigintColumn,
  delivery_id: z.string(),
  repository: z.string(),
  repository_id: bigintColumn,
  installation_id: bigintColumn.nullable(),
  issue_number: z.number().int(),
  is_pull_request: z.boolean(),
  comment_id: bigintColumn,
  requester: z.string(),
  body: z.string(),
  state: z.enum(["pending", "handled", "failed"]),
  attempts: z.number().int(),
  next_attempt_at: timestampColumn,
  locked_by: z.string().nullable(),
  lease_token: bigintColumn.nullable(),
  lease_expires_at: timestampColumn.nullable(),
  outcome: z.string().nullable(),
  error: z.string().nullable(),
  created_at: timestampColumn,
  handled_at: timestampColumn.nullable(),
});
export type CommandRow = z.infer<typeof commandRowSchema>;
export type LeasedCommand = CommandRow & { lease_token: number };
export const commandReceivedRowSchema = z.object({ command_id: bigintColumn, created: z.boolean() });

/** A /bisect comment as the webhook received it. */
export interface NewCommand {
  deliveryId: string;
  repository: string;
  repositoryId: number;
  installationId: number | null;
  issueNumber: number;
  isPullRequest: boolean;
  commentId: number;
  requester: string;
  body: string;
}

/** A reply waiting in the outbox (public.bisect_replies). */
export const replyRowSchema = z.object({
  id: bigintColumn,
  delivery_id: z.string(),
  repository: z.string(),
  repository_id: bigintColumn,
  installation_id: bigintColumn.nullable(),
  issue_number: z.number().int(),
  comment_id: bigintColumn,
  body: z.string(),
  reaction: z.enum(["+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"]).nullable(),
  cancel_run_id: bigintColumn.nullable(),
  state: z.enum(["pending", "posted", "failed"]),
  attempts: z.number().int(),
  next_attempt_at: timestampColumn,
  locked_by: z.string().nullable(),
  lease_token: bigintColumn.nullable(),
  lease_expires_at: timestampColumn.nullable(),
  posted_comment_id: bigintColumn.nullable(),
  error: z.string().nullable(),
  created_at: timestampColumn,
  posted_at: timestampColumn.nullable(),
});
export type ReplyRow = z.infer<typeof replyRowSchema>;
export type Reaction = NonNullable<ReplyRow["reaction"]>;

export const attemptRunRowSchema = z.object({ attempt: z.number().int(), run_id: bigintColumn });
export const replyCreatedRowSchema = z.object({ reply_id: bigintColumn, created: z.boolean() });
export const statsRowSchema = z.object({
  pending: bigintColumn,
  running: bigintColumn,
  completed: bigintColumn,
  failed: bigintColumn,
  cancelled: bigintColumn,
  running_on_this_instance: bigintColumn,
});
export type JobStats = z.infer<typeof statsRowSchema>;

/** A reply to a comment, for the outbox. */
export interface NewReply {
  deliveryId: string;
  repository: string;
  repositoryId: number;
  installationId: number | null;
  issueNumber: number;
  commentId: number;
  body: string;
  reaction: Reaction | null;
  /** `/bisect cancel`: the run to cancel before replying. */
  cancelRunId: number | null;
}

/** A job a worker holds: the row, and the fencing token every later call must present. */
export interface ClaimedJob {
  job: JobRow;
  token: number;
}

export interface NewJob {
  deliveryId: string;
  repository: string;
  repositoryId: number;
  installationId: number | null;
  issueNumber: number;
  commentId: number;
  requester: string;
  goodRefs: string[];
  badRef: string;
  goodShas: string[];
  badSha: string;
  command: string;
  options: Record<string, unknown>;
  maxAttempts: number;
}

/** A probe verdict as the result document carries it. */
export interface StoredProbe {
  sha: string;
  verdict: "good" | "bad" | "skip" | "error";
  exitCode: number | null;
  durationMs: number;
  round: number;
}

/** Probes as the SQL functions take them (the result document's field names), as JSON. */
export function probesPayload(probes: readonly StoredProbe[]) {
  return probes.map((p) => ({ sha: p.sha, verdict: p.verdict, exitCode: p.exitCode, durationMs: p.durationMs, round: p.round }));
}

export interface JobResult {
  verdict: "culprit" | "ambiguous" | "no-culprit" | "error";
  culpritSha: string | null;
  confidence: number | null;
  tested: number;
  rounds: number;
  error: string | null;
  probes: readonly StoredProbe[];
}

/**
 * Every change of a job's state, one SQL function each (supabase/migrations). Calls that act for
 * a worker take its fencing token and return false (or null) when its lease has expired: a late
 * worker changes nothing.
 */
export interface Store {
  /** Inserts the job, or finds the one this delivery or comment already made. */
  createJob(job: NewJob): Promise<{ jobId: number; created: boolean }>;
  /** Leases up to `limit` due jobs to `worker` (at most `maxActive` active per repository). */
  claimJobs(worker: string, limit: number, leaseSeconds: number, maxActive: number): Promise<ClaimedJob[]>;
  extendLease(jobId: number, token: number, leaseSeconds: number): Promise<boolean>;
  /** Graceful shutdown: gives the job back; an undispatched attempt is not counted. */
  releaseJob(jobId: number, token: number): Promise<boolean>;
  recordDispatch(jobId: number, token: number, runId: number, runUrl: string, checkAfterSeconds: number): Promise<boolean>;
  /** The run is still going: look again after `seconds`, and give up the lease meanwhile. */
  checkLater(jobId: number, token: number, seconds: number): Promise<boolean>;
  recordRunning(runId: number): Promise<boolean>;
  recordResult(jobId: number, token: number, result: JobResult): Promise<boolean>;
  /** An infrastructure failure: queued again with backoff, or failed after the last attempt. */
  failAttempt(jobId: number, token: number, reason: string, baseDelaySeconds: number, probes: readonly StoredProbe[]): Promise<JobState | null>;
  timeOutJob(jobId: number, token: number, reason: string, tested: number): Promise<boolean>;
  cancelJob(jobId: number, reason: string): Promise<{ cancelled: boolean; runId: number | null }>;
  recoverExpiredLeases(): Promise<number>;
  activeCounts(): Promise<{ repositoryId: number; repository: string; active: number; queued: number }[]>;
  getJob(jobId: number): Promise<JobRow | undefined>;

  /** A workflow_run / workflow_job event: running, or completed (due at once). Returns the jobs it concerned. */
  noteRunEvent(runId: number, jobId: number | null, status: string, conclusion: string | null): Promise<number>;
  /** Run ids the job's attempts recorded. */
  attemptRuns(jobId: number): Promise<number[]>;
  /** `/bisect retry` of a job that ended: a new attempt (resuming unless it had succeeded). */
  retryJob(jobId: number, extraAttempts: number): Promise<boolean>;
  /** Stores a /bisect comment (the webhook's only write); idempotent on delivery and comment. */
  receiveCommand(command: NewCommand): Promise<{ commandId: number; created: boolean }>;
  claimCommands(worker: string, limit: number, leaseSeconds: number): Promise<LeasedCommand[]>;
  /** Handled (`outcome` says what it became); or not: retried after `retrySeconds`, or failed when that is null. */
  finishCommand(commandId: number, token: number, outcome: string | null, error: string | null, retrySeconds: number | null): Promise<boolean>;
  /** Leases queued jobs that wait for a repository slot and have no status comment yet (no attempt starts). */
  claimAnnouncements(worker: string, limit: number, leaseSeconds: number, maxActive: number): Promise<ClaimedJob[]>;
  /** About to dispatch: from here on this attempt's run may exist, and a successor looks for it first. */
  recordDispatchIntent(jobId: number, token: number): Promise<boolean>;
  setStatusComment(jobId: number, token: number, commentId: number): Promise<boolean>;
  /** 1 for the next queued job of its repository; null when the job is not queued. */
  queuePosition(jobId: number): Promise<number | null>;
  /** The latest job started from an issue or pull request. */
  latestJob(repositoryId: number, issueNumber: number): Promise<JobRow | undefined>;
  /** Whether this delivery or comment already made a job or a reply (a command handled twice makes nothing new). */
  commentHandled(deliveryId: string, repositoryId: number, commentId: number): Promise<boolean>;
  stats(worker: string): Promise<JobStats>;
  /** Inserts the reply, or finds the one this delivery or comment already made. */
  enqueueReply(reply: NewReply): Promise<{ replyId: number; created: boolean }>;
  claimReplies(worker: string, limit: number, leaseSeconds: number): Promise<(ReplyRow & { lease_token: number })[]>;
  /** Posted as `commentId`; or not: retried after `retrySeconds`, or given up when that is null. */
  finishReply(replyId: number, token: number, commentId: number | null, error: string | null, retrySeconds: number | null): Promise<boolean>;
  /** Probes recorded for a job, every attempt, oldest first. */
  probes(jobId: number): Promise<(StoredProbe & { attempt: number })[]>;
  close(): Promise<void>;
}

/** Claimed rows carry their lease token; a row without one is a broken function, not a claim. */
export function leased(jobs: JobRow[]): ClaimedJob[] {
  return jobs.map((job) => {
    if (job.lease_token === null) throw new Error(`A claim returned job ${job.id} without a lease token`);
    return { job, token: job.lease_token };
  });
}

export function leasedCommands(rows: CommandRow[]): LeasedCommand[] {
  return rows.map((row) => {
    if (row.lease_token === null) throw new Error(`A claim returned command ${row.id} without a lease token`);
    return { ...row, lease_token: row.lease_token };
  });
}

export function leasedReplies(rows: ReplyRow[]): (ReplyRow & { lease_token: number })[] {
  return rows.map((row) => {
    if (row.lease_token === null) throw new Error(`A claim returned reply ${row.id} without a lease token`);
    return { ...row, lease_token: row.lease_token };
  });
}
