import { httpStatus, type Octokit, type RepoRef } from "./octokit.js";

/**
 * Cancels a workflow run. A run that already ended (409) or is gone (404) runs no more either
 * way: that is not an error.
 */
export async function cancelRun(octokit: Octokit, where: RepoRef, runId: number): Promise<void> {
  try {
    await octokit.request("POST /repos/{owner}/{repo}/actions/runs/{run_id}/cancel", { ...where, run_id: runId });
  } catch (error) {
    if (httpStatus(error) !== 409 && httpStatus(error) !== 404) throw error;
  }
}
