import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "probot";
import { z } from "zod";
import type { GithubAnswer } from "../store/functions.js";
import type { Store } from "../store/store.js";
import { githubMessage, httpStatus, type Octokit } from "./octokit.js";

/** How stale this instance's knowledge of an installation's pause may be before a read asks the store again. */
export const READ_CHECK_MS = 2_000;

/** How often, at most, a read's answer records the installation's quota (the dashboard's figure; writes record it every time). */
const QUOTA_NOTE_MS = 10_000;

/** The most answers one store call records (more wait for the next). */
const MAX_ANSWERS_PER_CALL = 200;

/** GitHub's advice when a rate limit names no time: wait at least a minute, longer on repeats. */
export const RATE_LIMIT_FLOOR_SECONDS = 60;

/** How GitHub words its rate limits: the hourly quota ("API rate limit exceeded"), secondary limits, the older "abuse" detection. */
const RATE_LIMIT_MESSAGE = /rate limit|secondary|abuse/i;

/** Whether GitHub's answer is a rate limit: any 429, or a 403 that says so (other 403s refuse a permission). */
export function isRateLimitAnswer(status: number | undefined, message: string): boolean {
  return status === 429 || (status === 403 && RATE_LIMIT_MESSAGE.test(message));
}

/** A number in a header; an empty or unreadable one counts as absent. */
const headerNumber = z
  .union([z.number(), z.string().trim().min(1).transform(Number)])
  .pipe(z.number().finite())
  .optional()
  .catch(undefined);
const rateLimitHeadersSchema = z.object({
  "retry-after": headerNumber,
  "x-ratelimit-remaining": headerNumber,
  "x-ratelimit-reset": headerNumber,
});
const errorHeadersSchema = z.object({ response: z.object({ headers: z.unknown() }) });

/** What GitHub's headers say about its limits. */
export interface RateLimitHeaders {
  retryAfter: number | undefined;
  remaining: number | undefined;
  /** Seconds since the epoch, GitHub's clock. */
  resetEpoch: number | undefined;
}

/** Reads the rate-limit headers of a response (Octokit's lower-case header record), or of an error's response. */
export function rateLimitHeaders(headersOrError: unknown): RateLimitHeaders {
  const fromError = errorHeadersSchema.safeParse(headersOrError);
  const parsed = rateLimitHeadersSchema.safeParse(fromError.success ? fromError.data.response.headers : headersOrError);
  if (!parsed.success) return { retryAfter: undefined, remaining: undefined, resetEpoch: undefined };
  return { retryAfter: parsed.data["retry-after"], remaining: parsed.data["x-ratelimit-remaining"], resetEpoch: parsed.data["x-ratelimit-reset"] };
}

/** The wait GitHub named, in seconds: `retry-after`, else until the reset when the quota is used up; 0 when it named none. */
export function secondsGitHubAsked(headers: RateLimitHeaders, now: number = Date.now()): number {
  if (headers.retryAfter !== undefined && headers.retryAfter > 0) return Math.ceil(headers.retryAfter);
  if (headers.remaining === 0 && headers.resetEpoch !== undefined) return Math.max(0, Math.ceil(headers.resetEpoch - now / 1000));
  return 0;
}

/**
 * A request the budget did not send: GitHub asked this installation to wait (another request,
 * maybe on another instance, was answered with a rate limit), and the wait is not over.
 */
export class InstallationPausedError extends Error {
  override readonly name = "InstallationPausedError";
  constructor(
    readonly installationId: number,
    /** Seconds until the pause ends. */
    readonly seconds: number,
    reason: string | null,
  ) {
    super(`Not sent: GitHub asked installation ${installationId} to wait ${Math.ceil(seconds)} s more (${reason ?? "rate limit"}).`);
  }
}

export interface BudgetOptions {
  /** Writes per window per installation, all instances together. */
  writesPerWindow: number;
  /** The sliding window, in seconds (60: GitHub's limit is per minute). */
  windowSeconds: number;
}

/** The parts of a request's options the budget reads: a GraphQL query is a read, a mutation a write. */
const requestSchema = z.object({ method: z.string(), url: z.string(), query: z.string().optional().catch(undefined) });

/** Whether GitHub counts the request as creating content: every request but GET and HEAD, and GraphQL queries. */
export function isWrite(options: unknown): boolean {
  const parsed = requestSchema.safeParse(options);
  // A request the budget cannot read is counted: spending a slot is cheaper than a secondary limit.
  if (!parsed.success) return true;
  const { method, url, query } = parsed.data;
  if (method === "GET" || method === "HEAD") return false;
  if (url.endsWith("/graphql") && query !== undefined) return /^\s*mutation\b/.test(query);
  return true;
}

/**
 * GitHub's rate limits for every instance of the App at once, kept in PostgreSQL (Octokit's
 * throttling plugin stays the per-process layer under it). Before a request to an installation:
 * if GitHub asked that installation to wait, the request is not sent (InstallationPausedError,
 * which the worker treats as the rate limit it stands for); a write takes one of the
 * installation's slots of the window, waiting (without a database connection) until one frees.
 * After the answer: the quota GitHub reported is recorded, and a rate limit pauses the
 * installation for every instance until `retry-after`, the quota's reset, or a minute.
 *
 * @example
 * const budget = new GitHubBudget(store, { writesPerWindow: 80, windowSeconds: 60 }, log);
 * const octokit = budget.wrap(await app.auth(installationId), installationId);
 */
export class GitHubBudget {
  /** Per installation, when the store last told this instance that it is not paused. */
  private readonly clearAt = new Map<number, number>();
  /** Per installation, when this instance last recorded the quota of a read's answer. */
  private readonly quotaNotedAt = new Map<number, number>();
  /** Answers waiting for the store, and what each caller awaits. */
  private readonly pending: { answer: GithubAnswer; recorded: () => void }[] = [];
  /** The store call recording answers, while one is under way (one at a time per instance). */
  private writing: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly options: BudgetOptions,
    private readonly log?: Logger,
  ) {}

  /** Adds the budget to an installation's Octokit: every request (REST and GraphQL) goes through it. */
  wrap(octokit: Octokit, installationId: number): Octokit {
    octokit.hook.wrap("request", async (request, options) => {
      const slot = await this.take(installationId, isWrite(options));
      try {
        const response = await request(options);
        await this.note(installationId, slot, response.status, response.headers, "");
        return response;
      } catch (error) {
        await this.note(installationId, slot, httpStatus(error), error, githubMessage(error));
        throw error;
      }
    });
    return octokit;
  }

  /**
   * Before a request: throws while the installation is paused; a write waits for its slot and
   * answers it (null for a read). A read asks the store only when this instance has not heard of
   * the installation for READ_CHECK_MS: a pause another instance recorded reaches reads that late
   * at most (writes, which GitHub's secondary limits are about, always ask).
   */
  async take(installationId: number, write: boolean, now = Date.now()): Promise<number | null> {
    // Only "not paused" is taken on trust: while a pause is known, every request asks (they are few then).
    const checkedAt = this.clearAt.get(installationId);
    if (!write && checkedAt !== undefined && now - checkedAt < READ_CHECK_MS) return null;
    for (;;) {
      const slot = await this.store.call("takeGithubSlot", {
        installationId,
        write,
        writesPerWindow: this.options.writesPerWindow,
        windowSeconds: this.options.windowSeconds,
      });
      if (slot.paused) this.clearAt.delete(installationId);
      else this.clearAt.set(installationId, Date.now());
      if (slot.paused) throw new InstallationPausedError(installationId, slot.wait_seconds, slot.reason);
      if (slot.wait_seconds <= 0) return slot.slot_id;
      // Instances waiting for the same slot ask again at slightly different times.
      await sleep(slot.wait_seconds * 1000 + Math.random() * 100);
    }
  }

  /**
   * After GitHub answered (`said`: the response's headers, or the error): records the quota, a
   * pause when GitHub asked for one, and ends the write's slot. A failure here is logged, not
   * thrown: GitHub's answer (a run it created, a comment it posted) must reach the caller.
   */
  async note(installationId: number, slot: number | null, status: number | undefined, said: unknown, message: string, now = Date.now()): Promise<void> {
    const headers = rateLimitHeaders(said);
    const asked = secondsGitHubAsked(headers, now);
    const limited = isRateLimitAnswer(status, message);
    // A rate limit pauses for what GitHub named, or a minute; a used-up quota until its reset.
    const pauseSeconds = limited ? asked || RATE_LIMIT_FLOOR_SECONDS : headers.remaining === 0 ? asked : 0;
    const reason = limited ? (message.split("\n")[0] ?? "").slice(0, 200) : "the hourly quota is used up";
    if (pauseSeconds > 0) this.clearAt.delete(installationId);
    // A read's answer that asks nothing is recorded for its quota alone: every QUOTA_NOTE_MS at most.
    if (slot === null && pauseSeconds === 0) {
      if (headers.remaining === undefined || now - (this.quotaNotedAt.get(installationId) ?? -Infinity) < QUOTA_NOTE_MS) return;
      this.quotaNotedAt.set(installationId, now);
    }
    await this.record({
      installationId,
      slotId: slot,
      remaining: headers.remaining === undefined ? null : Math.trunc(headers.remaining),
      resetEpoch: headers.resetEpoch === undefined ? null : Math.trunc(headers.resetEpoch),
      pauseSeconds,
      reason: pauseSeconds > 0 ? reason : null,
    });
  }

  /**
   * Records an answer in the store; resolves when it is written (or its failure logged). One call
   * at a time per instance: answers that come while one is under way are sent together when it
   * ends, so under load the store sees one round trip for many answers, and an idle instance's
   * answer goes at once, as before.
   */
  private record(answer: GithubAnswer): Promise<void> {
    const recorded = new Promise<void>((resolve) => this.pending.push({ answer, recorded: resolve }));
    this.writing ??= this.drain();
    return recorded;
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, MAX_ANSWERS_PER_CALL);
      try {
        await this.store.call("noteGithubAnswers", { answers: batch.map((b) => b.answer) });
      } catch (error) {
        const installations = [...new Set(batch.map((b) => b.answer.installationId))];
        this.log?.warn({ installations, err: error }, "could not record GitHub's rate limits");
      } finally {
        for (const b of batch) b.recorded();
      }
    }
    this.writing = undefined;
  }
}
