import { z } from "zod";
import type { Octokit, RepoRef } from "./octokit.js";

/** GitHub lists at most this many of a commit's files in one answer. */
export const MAX_LISTED_FILES = 300;

const commitSchema = z.object({ files: z.array(z.object({ filename: z.string() })).optional() });

/**
 * The paths a commit changed (against its first parent), from one REST call; null when GitHub
 * lists none or may have left some out (300 or more), so that nothing is concluded from a part.
 */
export async function commitFiles(octokit: Octokit, where: RepoRef, sha: string): Promise<string[] | null> {
  const { data } = await octokit.request("GET /repos/{owner}/{repo}/commits/{ref}", { ...where, ref: sha, per_page: MAX_LISTED_FILES });
  const files = commitSchema.parse(data).files;
  if (files === undefined || files.length === 0 || files.length >= MAX_LISTED_FILES) return null;
  return files.map((f) => f.filename);
}
