import type { GitCli } from "./git.js";

/**
 * Makes sure the commits of `good..bad` are in the clone that actions/checkout left: fetches a
 * missing commit by sha, and deepens a shallow clone (doubling) until no commit of the range sits
 * on the shallow boundary. A partial clone needs nothing: checkouts fetch blobs on demand.
 * Reports each step through `log`. Throws a clear error when a commit cannot be had.
 */
export async function ensureHistory(git: GitCli, refs: { good: readonly string[]; bad: string }, log: (line: string) => void): Promise<void> {
  const [missing, shallow] = await Promise.all([git.missingCommits([refs.bad, ...refs.good]), git.isShallow()]);
  for (const ref of missing) {
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(ref)) continue; // a name: resolved (and reported) later
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
