import type { ProbotOctokit } from "probot";

/** An installation's Octokit (REST routes, `graphql`, throttling and retries), as Probot gives it. */
export type Octokit = InstanceType<typeof ProbotOctokit>;

/** Where a comment was made. */
export interface RepoRef {
  owner: string;
  repo: string;
}

/** The HTTP status of an Octokit error, if it has one. */
export function httpStatus(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === "number" ? status : undefined;
}

/** The message GitHub gave with an error, without the request (which may carry a token). */
export function githubMessage(error: unknown): string {
  const response = (error as { response?: { data?: { message?: unknown } } } | null)?.response;
  const message = response?.data?.message;
  if (typeof message === "string" && message !== "") return message;
  return error instanceof Error ? error.message : String(error);
}
