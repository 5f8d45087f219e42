import { InstallationPausedError, isRateLimitAnswer, RATE_LIMIT_FLOOR_SECONDS, rateLimitHeaders, secondsGitHubAsked } from "../github/budget.js";
import { githubMessage, httpStatus } from "../github/octokit.js";

/**
 * A failure retrying cannot fix, raised by our own code (a webhook that named no installation,
 * a job that lost its run): the task or job fails at once, with this message.
 */
export class PermanentError extends Error {
  override readonly name = "PermanentError";
}

/**
 * GitHub's rate limit: it answered 429, or 403 saying so (primary, secondary or abuse limit), or
 * the cluster's budget did not send the request because GitHub asked the installation to wait.
 * Nothing was done: the work is tried again after the wait, and not counted against it.
 */
export function isRateLimited(error: unknown): boolean {
  return error instanceof InstallationPausedError || isRateLimitAnswer(httpStatus(error), githubMessage(error));
}

/**
 * An error retrying cannot fix: ours (PermanentError), or GitHub understood the request and
 * refused it (a missing workflow, invalid inputs, a permission the App lacks, a deleted issue).
 * Rate limits and 5xx are not: the work is tried again later.
 */
export function isPermanent(error: unknown): boolean {
  if (error instanceof PermanentError) return true;
  if (isRateLimited(error)) return false;
  const status = httpStatus(error);
  if (status === undefined) return false;
  return status >= 400 && status < 500 && status !== 408 && status !== 401;
}

/** A one-line account of an error for comments and the database (never the request, which may carry a token). */
export function describeError(error: unknown): string {
  const status = httpStatus(error);
  const message = (githubMessage(error).split("\n")[0] ?? "").slice(0, 300);
  return status === undefined ? message : `HTTP ${status}: ${message}`;
}

/**
 * How long to wait before trying again, in seconds: what GitHub asked (`retry-after`, else until
 * `x-ratelimit-reset` when the quota is used up), or what is left of the installation's pause;
 * at least a minute after a rate limit that named no time (GitHub's advice; the store's backoff
 * makes repeats longer); 0 for other errors that named no time.
 */
export function retryAfterSeconds(error: unknown, now: number = Date.now()): number {
  if (error instanceof InstallationPausedError) return Math.max(1, Math.ceil(error.seconds));
  const asked = secondsGitHubAsked(rateLimitHeaders(error), now);
  if (asked > 0) return asked;
  return isRateLimited(error) ? RATE_LIMIT_FLOOR_SECONDS : 0;
}
