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
  /** Probes recorded for a job, every attempt, oldest first. */
  probes(jobId: number): Promise<(StoredProbe & { attempt: number })[]>;
  close(): Promise<void>;
}
