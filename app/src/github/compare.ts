import { z } from "zod";
import type { Octokit, RepoRef } from "./octokit.js";

const compareSchema = z.object({
  status: z.enum(["diverged", "ahead", "behind", "identical"]),
  ahead_by: z.number().int(),
  behind_by: z.number().int(),
  merge_base_commit: z.object({ sha: z.string() }),
});

export type Comparison = z.infer<typeof compareSchema>;

/**
 * How `head` relates to `base` (the compare API): `ahead` when base is an ancestor of head, with
 * `ahead_by` commits in between. One commit of the list is asked for; only the counts matter.
 */
export async function compareCommits(octokit: Octokit, where: RepoRef, base: string, head: string): Promise<Comparison> {
  const { data } = await octokit.request("GET /repos/{owner}/{repo}/compare/{basehead}", {
    owner: where.owner,
    repo: where.repo,
    basehead: `${base}...${head}`,
    per_page: 1,
  });
  return compareSchema.parse(data);
}
