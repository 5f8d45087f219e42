import type { ProbotOctokit } from "probot";
import { z } from "zod";
import { errorMessage } from "../../../action/src/error-message.js";

/** An installation's Octokit (REST routes, `graphql`, throttling and retries), as Probot gives it. */
export type Octokit = InstanceType<typeof ProbotOctokit>;

/** Where a comment was made. */
export interface RepoRef {
  owner: string;
  repo: string;
}

/** The parts of an Octokit error (RequestError) read here; anything else thrown has neither. */
const statusSchema = z.object({ status: z.number() });
const githubMessageSchema = z.object({ response: z.object({ data: z.object({ message: z.string().min(1) }) }) });

/** The HTTP status of an Octokit error, if it has one. */
export function httpStatus(error: unknown): number | undefined {
  const parsed = statusSchema.safeParse(error);
  return parsed.success ? parsed.data.status : undefined;
}

/** The message GitHub gave with an error, without the request (which may carry a token). */
export function githubMessage(error: unknown): string {
  const parsed = githubMessageSchema.safeParse(error);
  if (parsed.success) return parsed.data.response.data.message;
  return errorMessage(error);
}
