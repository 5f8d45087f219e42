import { githubMessage, httpStatus } from "../github/octokit.js";

/**
 * An error retrying cannot fix: GitHub understood the request and refused it (a missing workflow,
 * invalid inputs, a permission the App lacks, a deleted issue). Rate limits (403/429 with a
 * rate-limit message) and 5xx are not: Probot's throttling and retry plugins have already waited,
 * and the job tries again later.
 */
export function isPermanent(error: unknown): boolean {
  const status = httpStatus(error);
  if (status === undefined) return false;
  if (status === 429) return false;
  if (status === 403) return !/rate limit|abuse|secondary/i.test(githubMessage(error));
  return status >= 400 && status < 500 && status !== 408 && status !== 401;
}

/** A one-line account of a GitHub error for comments and the job row (never the request). */
export function describeError(error: unknown): string {
  const status = httpStatus(error);
  const message = githubMessage(error).split("\n")[0]!.slice(0, 300);
  return status === undefined ? message : `HTTP ${status}: ${message}`;
}

/**
 * How long GitHub asked us to wait, in seconds: `retry-after`, else until `x-ratelimit-reset`
 * when the quota is used up; 0 when it said nothing.
 */
export function retryAfterSeconds(error: unknown, now: number = Date.now()): number {
  const headers = (error as { response?: { headers?: Record<string, string | number | undefined> } } | null)?.response?.headers ?? {};
  const retryAfter = Number(headers["retry-after"]);
  if (Number.isFinite(retryAfter) && retryAfter > 0) return Math.ceil(retryAfter);
  const reset = Number(headers["x-ratelimit-reset"]);
  if (String(headers["x-ratelimit-remaining"]) === "0" && Number.isFinite(reset)) return Math.max(0, Math.ceil(reset - now / 1000));
  return 0;
}
