import { createClient, type SupabaseClient, type SupabaseClientOptions } from "@supabase/supabase-js";
import { z } from "zod";
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

// What PostgREST answers for each function: an array of rows for set-returning and table
// functions, a bare JSON value for scalar ones. Parsed here, once.
const createdSchema = z.array(createdRowSchema).length(1);
const flagSchema = z.boolean();
const failSchema = jobRowSchema.shape.state.nullable();
const cancelSchema = z.array(cancelRowSchema).length(1);
const countSchema = z.number().int();
const activeSchema = z.array(activeCountRowSchema);
const jobsSchema = z.array(jobRowSchema);
const probesSchema = z.array(probeRowSchema);
const positionSchema = z.number().int().nullable();
const statsSchema = z.array(statsRowSchema).length(1);
const replyCreatedSchema = z.array(replyCreatedRowSchema).length(1);
const repliesSchema = z.array(replyRowSchema);
const commandReceivedSchema = z.array(commandReceivedRowSchema).length(1);
const commandsSchema = z.array(commandRowSchema);

type WebSocketConstructor = NonNullable<NonNullable<SupabaseClientOptions<"public">["realtime"]>["transport"]>;

/**
 * supabase-js 2.109 builds a Realtime client inside createClient, and on Node 20 (no global
 * WebSocket) that throws unless a WebSocket class is given. The store never opens a channel, so
 * it gives one that refuses to be used rather than adding the `ws` package.
 */
const NO_REALTIME = class {
  constructor() {
    throw new Error("The Supabase store does not use Realtime: no WebSocket transport is configured.");
  }
} as unknown as WebSocketConstructor;

/** supabase-js puts a failed fetch's stack in `details`; an error message needs only its causes. */
function withoutStack(details: string): string {
  return details
    .split("\n")
    .filter((line) => line.trim() !== "" && !/^\s+at /.test(line))
    .join(" ");
}


/**
 * The store over a Supabase project: each method is one `.rpc()` call (PostgREST's
 * `POST /rest/v1/rpc/<fn>`) of the SQL function of the same name, so it behaves as the SQL store.
 * The secret key bypasses row level security and must stay on the server; it never appears in an
 * error this class throws. The migrations reach the project through `supabase db push`.
 *
 * @example
 * const store = new SupabaseStore(process.env.SUPABASE_URL, process.env.SUPABASE_SECRET_KEY);
 * const [claimed] = await store.claimJobs("worker-1", 1, 30, 4);
 */
export class SupabaseStore implements Store {
  private readonly client: SupabaseClient;
  private readonly origin: string;

  constructor(url: string, secretKey: string) {
    this.origin = new URL(url).origin;
    // A server holds no user session: nothing to persist, refresh or read from a URL.
    this.client = createClient(url, secretKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      realtime: { transport: NO_REALTIME },
    });
  }

  /** Calls `fn` and parses its answer; a failed call throws an error naming the function. */
  private async call<S extends z.ZodType>(fn: string, args: Record<string, unknown>, schema: S): Promise<z.infer<S>> {
    const { data, error, status } = await this.client.rpc(fn, args);
    if (error) {
      // PostgREST's error body (code, message, details, hint), the gateway's, or supabase-js's
      // own for a failed fetch: none carries the request's headers, so the key never shows.
      if (status === 0) {
        throw new Error(`Supabase rpc ${fn} could not reach ${this.origin}: ${withoutStack(error.details) || error.message}. Check SUPABASE_URL.`, { cause: error });
      }
      const code = error.code ? ` [${error.code}]` : "";
      const details = error.details ? ` (${withoutStack(error.details)})` : "";
      const hint = error.hint ? ` Hint: ${error.hint}` : "";
      const keyHint = status === 401 ? " Check SUPABASE_SECRET_KEY: it must be the project's secret key (sb_secret_…) or its legacy service_role key." : "";
      throw new Error(`Supabase rpc ${fn} failed with HTTP ${status}${code}: ${error.message}${details}.${hint}${keyHint}`, { cause: error });
    }
    const parsed = schema.safeParse(data);
    if (!parsed.success) {
      throw new Error(`Supabase rpc ${fn} answered an unexpected shape: ${z.prettifyError(parsed.error)}`);
    }
    return parsed.data;
  }

  async createJob(job: NewJob): Promise<{ jobId: number; created: boolean }> {
    const [row] = await this.call(
      "bisect_create_job",
      {
        p_delivery_id: job.deliveryId,
        p_repository: job.repository,
        p_repository_id: job.repositoryId,
        p_installation_id: job.installationId,
        p_issue_number: job.issueNumber,
        p_comment_id: job.commentId,
        p_requester: job.requester,
        p_good_refs: job.goodRefs,
        p_bad_ref: job.badRef,
        p_good_shas: job.goodShas,
        p_bad_sha: job.badSha,
        p_command: job.command,
        p_options: job.options,
        p_max_attempts: job.maxAttempts,
      },
      createdSchema,
    );
    return { jobId: row!.job_id, created: row!.created };
  }

  async claimJobs(worker: string, limit: number, leaseSeconds: number, maxActive: number): Promise<ClaimedJob[]> {
    const jobs = await this.call(
      "bisect_claim_jobs",
      { p_worker: worker, p_limit: limit, p_lease_seconds: leaseSeconds, p_max_active: maxActive },
      jobsSchema,
    );
    return leased(jobs);
  }

  extendLease(jobId: number, token: number, leaseSeconds: number): Promise<boolean> {
    return this.call("bisect_extend_lease", { p_job_id: jobId, p_token: token, p_lease_seconds: leaseSeconds }, flagSchema);
  }

  releaseJob(jobId: number, token: number): Promise<boolean> {
    return this.call("bisect_release_job", { p_job_id: jobId, p_token: token }, flagSchema);
  }

  recordDispatch(jobId: number, token: number, runId: number, runUrl: string, checkAfterSeconds: number): Promise<boolean> {
    return this.call(
      "bisect_record_dispatch",
      { p_job_id: jobId, p_token: token, p_run_id: runId, p_run_url: runUrl, p_check_after_seconds: checkAfterSeconds },
      flagSchema,
    );
  }

  checkLater(jobId: number, token: number, seconds: number): Promise<boolean> {
    return this.call("bisect_check_later", { p_job_id: jobId, p_token: token, p_seconds: seconds }, flagSchema);
  }

  recordRunning(runId: number): Promise<boolean> {
    return this.call("bisect_record_running", { p_run_id: runId }, flagSchema);
  }

  recordResult(jobId: number, token: number, result: JobResult): Promise<boolean> {
    return this.call(
      "bisect_record_result",
      {
        p_job_id: jobId,
        p_token: token,
        p_verdict: result.verdict,
        p_culprit_sha: result.culpritSha,
        p_confidence: result.confidence,
        p_tested: result.tested,
        p_rounds: result.rounds,
        p_error: result.error,
        p_probes: probesPayload(result.probes),
      },
      flagSchema,
    );
  }

  failAttempt(jobId: number, token: number, reason: string, baseDelaySeconds: number, probes: StoredProbe[]): Promise<JobState | null> {
    return this.call(
      "bisect_fail_attempt",
      { p_job_id: jobId, p_token: token, p_reason: reason, p_base_delay_seconds: baseDelaySeconds, p_probes: probesPayload(probes) },
      failSchema,
    );
  }

  timeOutJob(jobId: number, token: number, reason: string, tested: number): Promise<boolean> {
    return this.call("bisect_time_out_job", { p_job_id: jobId, p_token: token, p_reason: reason, p_tested: tested }, flagSchema);
  }

  async cancelJob(jobId: number, reason: string): Promise<{ cancelled: boolean; runId: number | null }> {
    const [row] = await this.call("bisect_cancel_job", { p_job_id: jobId, p_reason: reason }, cancelSchema);
    return { cancelled: row!.cancelled, runId: row!.run_id };
  }

  recoverExpiredLeases(): Promise<number> {
    return this.call("bisect_recover_expired_leases", {}, countSchema);
  }

  async activeCounts(): Promise<{ repositoryId: number; repository: string; active: number; queued: number }[]> {
    const rows = await this.call("bisect_active_counts", {}, activeSchema);
    return rows.map((r) => ({ repositoryId: r.repository_id, repository: r.repository, active: r.active, queued: r.queued }));
  }

  async getJob(jobId: number): Promise<JobRow | undefined> {
    const [job] = await this.call("bisect_get_job", { p_job_id: jobId }, jobsSchema);
    return job;
  }

  async probes(jobId: number): Promise<(StoredProbe & { attempt: number })[]> {
    const rows = await this.call("bisect_job_probes", { p_job_id: jobId }, probesSchema);
    return rows.map((p) => ({ attempt: p.attempt, sha: p.sha, verdict: p.verdict, exitCode: p.exit_code, durationMs: p.duration_ms, round: p.round }));
  }

  noteRunEvent(runId: number, jobId: number | null, status: string, conclusion: string | null): Promise<number> {
    return this.call("bisect_note_run_event", { p_run_id: runId, p_job_id: jobId, p_status: status, p_conclusion: conclusion }, countSchema);
  }

  async attemptRuns(jobId: number): Promise<number[]> {
    return (await this.call("bisect_attempt_runs", { p_job_id: jobId }, z.array(attemptRunRowSchema))).map((r) => r.run_id);
  }

  retryJob(jobId: number, extraAttempts: number): Promise<boolean> {
    return this.call("bisect_retry_job", { p_job_id: jobId, p_extra_attempts: extraAttempts }, flagSchema);
  }

  async receiveCommand(c: NewCommand): Promise<{ commandId: number; created: boolean }> {
    const [row] = await this.call(
      "bisect_receive_command",
      {
        p_delivery_id: c.deliveryId,
        p_repository: c.repository,
        p_repository_id: c.repositoryId,
        p_installation_id: c.installationId,
        p_issue_number: c.issueNumber,
        p_is_pull_request: c.isPullRequest,
        p_comment_id: c.commentId,
        p_requester: c.requester,
        p_body: c.body,
      },
      commandReceivedSchema,
    );
    return { commandId: row!.command_id, created: row!.created };
  }

  async claimCommands(worker: string, limit: number, leaseSeconds: number): Promise<LeasedCommand[]> {
    return leasedCommands(await this.call("bisect_claim_commands", { p_worker: worker, p_limit: limit, p_lease_seconds: leaseSeconds }, commandsSchema));
  }

  finishCommand(commandId: number, token: number, outcome: string | null, error: string | null, retrySeconds: number | null): Promise<boolean> {
    return this.call(
      "bisect_finish_command",
      { p_command_id: commandId, p_token: token, p_outcome: outcome, p_error: error, p_retry_seconds: retrySeconds },
      flagSchema,
    );
  }

  async claimAnnouncements(worker: string, limit: number, leaseSeconds: number, maxActive: number): Promise<ClaimedJob[]> {
    const jobs = await this.call(
      "bisect_claim_announcements",
      { p_worker: worker, p_limit: limit, p_lease_seconds: leaseSeconds, p_max_active: maxActive },
      jobsSchema,
    );
    return leased(jobs);
  }

  recordDispatchIntent(jobId: number, token: number): Promise<boolean> {
    return this.call("bisect_record_dispatch_intent", { p_job_id: jobId, p_token: token }, flagSchema);
  }

  setStatusComment(jobId: number, token: number, commentId: number): Promise<boolean> {
    return this.call("bisect_set_status_comment", { p_job_id: jobId, p_token: token, p_comment_id: commentId }, flagSchema);
  }

  queuePosition(jobId: number): Promise<number | null> {
    return this.call("bisect_queue_position", { p_job_id: jobId }, positionSchema);
  }

  async latestJob(repositoryId: number, issueNumber: number): Promise<JobRow | undefined> {
    const [job] = await this.call("bisect_latest_job", { p_repository_id: repositoryId, p_issue_number: issueNumber }, jobsSchema);
    return job;
  }

  commentHandled(deliveryId: string, repositoryId: number, commentId: number): Promise<boolean> {
    return this.call("bisect_comment_handled", { p_delivery_id: deliveryId, p_repository_id: repositoryId, p_comment_id: commentId }, flagSchema);
  }

  async stats(worker: string): Promise<JobStats> {
    const [row] = await this.call("bisect_stats", { p_worker: worker }, statsSchema);
    return row!;
  }

  async enqueueReply(reply: NewReply): Promise<{ replyId: number; created: boolean }> {
    const [row] = await this.call(
      "bisect_enqueue_reply",
      {
        p_delivery_id: reply.deliveryId,
        p_repository: reply.repository,
        p_repository_id: reply.repositoryId,
        p_installation_id: reply.installationId,
        p_issue_number: reply.issueNumber,
        p_comment_id: reply.commentId,
        p_body: reply.body,
        p_reaction: reply.reaction,
        p_cancel_run_id: reply.cancelRunId,
      },
      replyCreatedSchema,
    );
    return { replyId: row!.reply_id, created: row!.created };
  }

  async claimReplies(worker: string, limit: number, leaseSeconds: number): Promise<(ReplyRow & { lease_token: number })[]> {
    return leasedReplies(await this.call("bisect_claim_replies", { p_worker: worker, p_limit: limit, p_lease_seconds: leaseSeconds }, repliesSchema));
  }

  finishReply(replyId: number, token: number, commentId: number | null, error: string | null, retrySeconds: number | null): Promise<boolean> {
    return this.call(
      "bisect_finish_reply",
      { p_reply_id: replyId, p_token: token, p_comment_id: commentId, p_error: error, p_retry_seconds: retrySeconds },
      flagSchema,
    );
  }

  /** supabase-js holds no connection between calls (HTTP); only Realtime channels would need closing. */
  async close(): Promise<void> {
    await this.client.removeAllChannels();
  }
}
