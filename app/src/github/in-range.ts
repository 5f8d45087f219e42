import { compareCommits, type Comparison } from "./compare.js";
import { httpStatus, type Octokit, type RepoRef } from "./octokit.js";

/** The comparison, or null when GitHub knows no such commit (404, 422): not a commit of the range. */
async function compareKnown(octokit: Octokit, where: RepoRef, base: string, head: string): Promise<Comparison | null> {
  try {
    return await compareCommits(octokit, where, base, head);
  } catch (error) {
    if (httpStatus(error) === 404 || httpStatus(error) === 422) return null;
    throw error;
  }
}

/**
 * Whether `sha` is a commit of the range goods..bad, as git bisect sees it: `bad` or one of its
 * ancestors, and reachable from no good. One compare per ref (1 + goods calls).
 */
export async function inRange(octokit: Octokit, where: RepoRef, goods: readonly string[], bad: string, sha: string): Promise<boolean> {
  if (goods.includes(sha)) return false;
  if (sha !== bad) {
    // `ahead`: bad has every commit of sha and more, so sha is an ancestor of bad.
    const toBad = await compareKnown(octokit, where, sha, bad);
    if (toBad?.status !== "ahead") return false;
  }
  for (const good of goods) {
    // `ahead` or `identical`: the good already has sha, so sha was not introduced by the range.
    const toGood = await compareKnown(octokit, where, sha, good);
    if (toGood === null || toGood.status === "ahead" || toGood.status === "identical") return false;
  }
  return true;
}
