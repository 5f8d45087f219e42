import { z } from "zod";
import type { SqlClient } from "./sql-client.js";
import {
  activeCountRowSchema,
  cancelRowSchema,
  createdRowSchema,
  jobRowSchema,
  leased,
  leasedCommands,
  leasedReplies,
  commandReceivedRowSchema,
  commandRowSchema,
  probeRowSchema,
  probesPayload,
  attemptRunRowSchema,
  replyCreatedRowSchema,
  replyRowSchema,
  statsRowSchema,
  type ClaimedJob, type JobStats, type LeasedCommand, type NewCommand, type NewReply, type ReplyRow, type JobResult, type JobRow, type JobState, type NewJob, type Store, type StoredProbe } from "./store.js";

// The scalar answers of the functions; the row shapes are shared with the Supabase store (store.ts).
const flagSchema = z.object({ ok: z.boolean() });
const failSchema = z.object({ state: jobRowSchema.shape.state.nullable() });
const countSchema = z.object({ n: z.number().int() });
const positionSchema = z.object({ n: z.number().int().nullable() });

/** jsonb parameters go as JSON text: pg would send a JS array as a PostgreSQL array. */
function probesJson(probes: readonly StoredProbe[]): string {
  return JSON.stringify(probesPayload(probes));
}

/**
 * The store over PostgreSQL or PGlite: each method is one call of the SQL function of the same
 * name (supabase/migrations), where all the job logic lives.
 *
 * @example
 * const store = new SqlStore(await pgliteClient());
 * await migrate(client);
 * const [claimed] = await store.claimJobs("worker-1", 1, 30, 4);
 */
export class SqlStore implements Store {
  constructor(private readonly client: SqlClient) {}

  private async rows<S extends z.ZodType>(schema: S, sql: string, params: readonly unknown[]): Promise<z.infer<S>[]> {
    const { rows } = await this.client.query(sql, params);
    return rows.map((row) => schema.parse(row));
  }

  /** Functions that answer one row (scalars and `exists`) always answer exactly one. */
  private async one<S extends z.ZodType>(schema: S, sql: string, params: readonly unknown[]): Promise<z.infer<S>> {
    const [row] = await this.rows(schema, sql, params);
    if (row === undefined) throw new Error(`The store's query answered no row: ${sql}`);
    return row;
  }

  async createJob(job: NewJob): Promise<{ jobId: number; created: boolean }> {
    const row = await this.one(
      createdRowSchema,
      "select job_id, created from public.bisect_create_job($1::text, $2::text, $3::bigint, $4::bigint, $5::integer, $6::bigint, " +
        "$7::text, $8::text[], $9::text, $10::text[], $11::text, $12::text, $13::jsonb, $14::integer)",
      [
        job.deliveryId,
        job.repository,
        job.repositoryId,
        job.installationId,
        job.issueNumber,
        job.commentId,
        job.requester,
        job.goodRefs,
        job.badRef,
        job.goodShas,
        job.badSha,
        job.command,
        JSON.stringify(job.options),
        job.maxAttempts,
      ],
    );
    return { jobId: row.job_id, created: row.created };
  }

  async claimJobs(worker: string, limit: number, leaseSeconds: number, maxActive: number): Promise<ClaimedJob[]> {
    const jobs = await this.rows(jobRowSchema, "select * from public.bisect_claim_jobs($1::text, $2::integer, $3::integer, $4::integer)", [
      worker,
      limit,
      leaseSeconds,
      maxActive,
    ]);
    return leased(jobs);
  }

  async extendLease(jobId: number, token: number, leaseSeconds: number): Promise<boolean> {
    return this.flag("select public.bisect_extend_lease($1::bigint, $2::bigint, $3::integer) as ok", [jobId, token, leaseSeconds]);
  }

  async releaseJob(jobId: number, token: number): Promise<boolean> {
    return this.flag("select public.bisect_release_job($1::bigint, $2::bigint) as ok", [jobId, token]);
  }

  async recordDispatch(jobId: number, token: number, runId: number, runUrl: string, checkAfterSeconds: number): Promise<boolean> {
    return this.flag("select public.bisect_record_dispatch($1::bigint, $2::bigint, $3::bigint, $4::text, $5::integer) as ok", [
      jobId,
      token,
      runId,
      runUrl,
      checkAfterSeconds,
    ]);
  }

  async checkLater(jobId: number, token: number, seconds: number): Promise<boolean> {
    return this.flag("select public.bisect_check_later($1::bigint, $2::bigint, $3::integer) as ok", [jobId, token, seconds]);
  }

  async recordRunning(runId: number): Promise<boolean> {
    return this.flag("select public.bisect_record_running($1::bigint) as ok", [runId]);
  }

  async recordResult(jobId: number, token: number, result: JobResult): Promise<boolean> {
    return this.flag(
      "select public.bisect_record_result($1::bigint, $2::bigint, $3::text, $4::text, $5::double precision, $6::integer, $7::integer, $8::text, $9::jsonb) as ok",
      [jobId, token, result.verdict, result.culpritSha, result.confidence, result.tested, result.rounds, result.error, probesJson(result.probes)],
    );
  }

  async failAttempt(jobId: number, token: number, reason: string, baseDelaySeconds: number, probes: StoredProbe[]): Promise<JobState | null> {
    const row = await this.one(
      failSchema,
      "select public.bisect_fail_attempt($1::bigint, $2::bigint, $3::text, $4::double precision, $5::jsonb) as state",
      [jobId, token, reason, baseDelaySeconds, probesJson(probes)],
    );
    return row.state;
  }

  async timeOutJob(jobId: number, token: number, reason: string, tested: number): Promise<boolean> {
    return this.flag("select public.bisect_time_out_job($1::bigint, $2::bigint, $3::text, $4::integer) as ok", [jobId, token, reason, tested]);
  }

  async cancelJob(jobId: number, reason: string): Promise<{ cancelled: boolean; runId: number | null }> {
    const row = await this.one(cancelRowSchema, "select cancelled, run_id from public.bisect_cancel_job($1::bigint, $2::text)", [jobId, reason]);
    return { cancelled: row.cancelled, runId: row.run_id };
  }

  async recoverExpiredLeases(): Promise<number> {
    return (await this.one(countSchema, "select public.bisect_recover_expired_leases() as n", [])).n;
  }

  async activeCounts(): Promise<{ repositoryId: number; repository: string; active: number; queued: number }[]> {
    const rows = await this.rows(activeCountRowSchema, "select repository_id, repository, active, queued from public.bisect_active_counts()", []);
    return rows.map((r) => ({ repositoryId: r.repository_id, repository: r.repository, active: r.active, queued: r.queued }));
  }

  async getJob(jobId: number): Promise<JobRow | undefined> {
    const [job] = await this.rows(jobRowSchema, "select * from public.bisect_get_job($1::bigint)", [jobId]);
    return job;
  }

  async probes(jobId: number): Promise<(StoredProbe & { attempt: number })[]> {
    const rows = await this.rows(
      probeRowSchema,
      "select attempt, sha, verdict, exit_code, duration_ms, round from public.bisect_job_probes($1::bigint)",
      [jobId],
    );
    return rows.map((p) => ({ attempt: p.attempt, sha: p.sha, verdict: p.verdict, exitCode: p.exit_code, durationMs: p.duration_ms, round: p.round }));
  }

  async noteRunEvent(runId: number, jobId: number | null, status: string, conclusion: string | null): Promise<number> {
    return (await this.one(countSchema, "select public.bisect_note_run_event($1::bigint, $2::bigint, $3::text, $4::text) as n", [runId, jobId, status, conclusion])).n;
  }

  async attemptRuns(jobId: number): Promise<number[]> {
    return (await this.rows(attemptRunRowSchema, "select attempt, run_id from public.bisect_attempt_runs($1::bigint)", [jobId])).map((r) => r.run_id);
  }

  async retryJob(jobId: number, extraAttempts: number): Promise<boolean> {
    return this.flag("select public.bisect_retry_job($1::bigint, $2::integer) as ok", [jobId, extraAttempts]);
  }

  async receiveCommand(c: NewCommand): Promise<{ commandId: number; created: boolean }> {
    const row = await this.one(
      commandReceivedRowSchema,
      "select command_id, created from public.bisect_receive_command($1::text, $2::text, $3::bigint, $4::bigint, $5::integer, $6::boolean, $7::bigint, $8::text, $9::text)",
      [c.deliveryId, c.repository, c.repositoryId, c.installationId, c.issueNumber, c.isPullRequest, c.commentId, c.requester, c.body],
    );
    return { commandId: row.command_id, created: row.created };
  }

  async claimCommands(worker: string, limit: number, leaseSeconds: number): Promise<LeasedCommand[]> {
    return leasedCommands(await this.rows(commandRowSchema, "select * from public.bisect_claim_commands($1::text, $2::integer, $3::integer)", [worker, limit, leaseSeconds]));
  }

  async finishCommand(commandId: number, token: number, outcome: string | null, error: string | null, retrySeconds: number | null): Promise<boolean> {
    return this.flag("select public.bisect_finish_command($1::bigint, $2::bigint, $3::text, $4::text, $5::integer) as ok", [commandId, token, outcome, error, retrySeconds]);
  }

  async claimAnnouncements(worker: string, limit: number, leaseSeconds: number, maxActive: number): Promise<ClaimedJob[]> {
    const jobs = await this.rows(jobRowSchema, "select * from public.bisect_claim_announcements($1::text, $2::integer, $3::integer, $4::integer)", [
      worker,
      limit,
      leaseSeconds,
      maxActive,
    ]);
    return leased(jobs);
  }

  async recordDispatchIntent(jobId: number, token: number): Promise<boolean> {
    return this.flag("select public.bisect_record_dispatch_intent($1::bigint, $2::bigint) as ok", [jobId, token]);
  }

  async setStatusComment(jobId: number, token: number, commentId: number): Promise<boolean> {
    return this.flag("select public.bisect_set_status_comment($1::bigint, $2::bigint, $3::bigint) as ok", [jobId, token, commentId]);
  }

  async queuePosition(jobId: number): Promise<number | null> {
    return (await this.one(positionSchema, "select public.bisect_queue_position($1::bigint) as n", [jobId])).n;
  }

  async latestJob(repositoryId: number, issueNumber: number): Promise<JobRow | undefined> {
    const [job] = await this.rows(jobRowSchema, "select * from public.bisect_latest_job($1::bigint, $2::integer)", [repositoryId, issueNumber]);
    return job;
  }

  async commentHandled(deliveryId: string, repositoryId: number, commentId: number): Promise<boolean> {
    return this.flag("select public.bisect_comment_handled($1::text, $2::bigint, $3::bigint) as ok", [deliveryId, repositoryId, commentId]);
  }

  async stats(worker: string): Promise<JobStats> {
    return this.one(statsRowSchema, "select * from public.bisect_stats($1::text)", [worker]);
  }

  async enqueueReply(reply: NewReply): Promise<{ replyId: number; created: boolean }> {
    const row = await this.one(
      replyCreatedRowSchema,
      "select reply_id, created from public.bisect_enqueue_reply($1::text, $2::text, $3::bigint, $4::bigint, $5::integer, $6::bigint, $7::text, $8::text, $9::bigint)",
      [reply.deliveryId, reply.repository, reply.repositoryId, reply.installationId, reply.issueNumber, reply.commentId, reply.body, reply.reaction, reply.cancelRunId],
    );
    return { replyId: row.reply_id, created: row.created };
  }

  async claimReplies(worker: string, limit: number, leaseSeconds: number): Promise<(ReplyRow & { lease_token: number })[]> {
    const rows = await this.rows(replyRowSchema, "select * from public.bisect_claim_replies($1::text, $2::integer, $3::integer)", [worker, limit, leaseSeconds]);
    return leasedReplies(rows);
  }

  async finishReply(replyId: number, token: number, commentId: number | null, error: string | null, retrySeconds: number | null): Promise<boolean> {
    return this.flag("select public.bisect_finish_reply($1::bigint, $2::bigint, $3::bigint, $4::text, $5::integer) as ok", [
      replyId,
      token,
      commentId,
      error,
      retrySeconds,
    ]);
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private async flag(sql: string, params: readonly unknown[]): Promise<boolean> {
    return (await this.one(flagSchema, sql, params)).ok;
  }
}
