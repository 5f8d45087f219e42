import type { GitCli } from "./git.js";

/** A full object id; any other ref is a name, resolved (and reported when unknown) later. */
const isFullSha = (ref: string) => /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(ref);

/**
 * Makes sure the commits of `good..bad` are in the clone that actions/checkout left: fetches a
 * missing commit by sha, and deepens a shallow clone (doubling) until no commit of the range sits
 * on the shallow boundary. A partial clone needs nothing: checkouts fetch blobs on demand.
 * Reports each step through `log`. Throws a clear error when a commit cannot be had.
 */
export async function ensureHistory(git: GitCli, refs: { good: readonly string[]; bad: string }, log: (line: string) => void): Promise<void> {
  const [missing, shallow] = await Promise.all([git.missingCommits([refs.bad, ...refs.good]), git.isShallow()]);
  for (const ref of missing.filter(isFullSha)) {
    log(`Commit ${ref} is not in the clone: fetching it from origin.`);
    await git.fetch(["--no-tags", "origin", ref]).catch((error: Error) => {
      throw new Error(`Commit ${ref} is not in the repository and could not be fetched from origin: ${error.message}`);
    });
  }

  if (!shallow) return;
  for (let depth = 50; ; depth *= 2) {
    const cut = await git.shallowCommitsIn(refs.bad, refs.good);
    if (cut === 0) return;
    if (!(await git.isShallow())) return;
    log(`The clone is shallow and the range reaches its boundary: deepening by ${depth} commits.`);
    const before = await git.shallowBoundary();
    await git.fetch(["--no-tags", `--deepen=${depth}`, "origin"]);
    if ((await git.shallowBoundary()) === before) {
      log("Deepening fetched nothing new: fetching the whole history.");
      await git.fetch(["--no-tags", "--unshallow", "origin"]);
      return;
    }
  }
}

/**
 * Probe mode: makes sure the commits to test are in the clone, and nothing more. A fan-out
 * runner's checkout (actions/checkout with `ref: <sha>`, `fetch-depth: 1`) holds just its commit,
 * with no parents and no credentials left to fetch with, so the range's history is never read or
 * fetched. A commit the clone lacks (a full sha; a name is resolved, or reported unknown, later)
 * is fetched by sha once, and in a shallow clone only that commit (`--depth=1`), never its history.
 * Throws an error naming the commit when it cannot be had.
 */
export async function ensureCommits(git: GitCli, commits: readonly string[], log: (line: string) => void): Promise<void> {
  const missing = (await git.missingCommits(commits)).filter(isFullSha);
  if (missing.length === 0) return;
  const depth = (await git.isShallow()) ? ["--depth=1"] : [];
  for (const sha of missing) {
    log(`Commit ${sha} is not in the clone: fetching just that commit from origin.`);
    await git.fetch(["--no-tags", ...depth, "origin", sha]).catch((error: Error) => {
      throw new Error(
        `Commit ${sha} is not in the clone and could not be fetched from origin (${error.message}). ` +
          "Probe mode tests the commits the checkout fetched: check out the commit to test (actions/checkout with ref: <sha>) and pass the same sha in 'commits'.",
      );
    });
  }
}
