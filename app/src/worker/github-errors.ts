import { githubMessage, httpStatus } from "../github/octokit.js";

/**
 * A failure retrying cannot fix, raised by our own code (a webhook that named no installation,
 * a job that lost its run): the task or job fails at once, with this message.
 */
export class PermanentError extends Error {
  override readonly name = "PermanentError";
}

/**
 * An error retrying cannot fix: ours (PermanentError), or GitHub understood the request and
 * refused it (a missing workflow, invalid inputs, a permission the App lacks, a deleted issue).
 * Rate limits (403/429 with a rate-limit message) and 5xx are not: Probot's throttling and retry
 * plugins have already waited, and the work is tried again later.
 */
export function isPermanent(error: unknown): boolean {
  if (error instanceof PermanentError) return true;
  const status = httpStatus(error);
  if (status === undefined) return false;
  if (status === 429) return false;
  if (status === 403) return !/rate limit|abuse|secondary/i.test(githubMessage(error));
  return status >= 400 && status < 500 && status !== 408 && status !== 401;
}

/** A one-line account of an error for comments and the database (never the request, which may carry a token). */
export function describeError(error: unknown): string {
  const status = httpStatus(error);
  const message = (githubMessage(error).split("\n")[0] ?? "").slice(0, 300);
  return status === undefined ? message : `HTTP ${status}: ${message}`;
}

/**
 * How long GitHub asked us to wait, in seconds: `retry-after`, else until `x-ratelimit-reset`
 * when the quota is used up; 0 when it said nothing.
 */
export function retryAfterSeconds(error: unknown, now: number = Date.now()): number {
  const response: unknown = error instanceof Object && "response" in error ? error.response : undefined;
  const headers: unknown = response instanceof Object && "headers" in response ? response.headers : undefined;
  const header = (name: string) => (headers instanceof Object && name in headers ? Number(Reflect.get(headers, name)) : NaN);
  const retryAfter = header("retry-after");
  if (Number.isFinite(retryAfter) && retryAfter > 0) return Math.ceil(retryAfter);
  const reset = header("x-ratelimit-reset");
  if (header("x-ratelimit-remaining") === 0 && Number.isFinite(reset)) return Math.max(0, Math.ceil(reset - now / 1000));
  return 0;
}
