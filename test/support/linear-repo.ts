/**
 * Test support: the repository most CLI, Action and runner tests bisect. A linear history
 * c0..c{n-1}, tag v1.0 at c0, `main` checked out at the tip; from commit `culprit` on, the file
 * `bug` exists, so the test `sh check.sh` (or `test ! -e bug`) fails there.
 */
import { join } from "node:path";
import { buildRepo, type DagCommit, git, tempDir } from "./dag-repo.js";

/** The test every linear repository carries at c0: exit 0 until `bug` exists. */
export const CHECK_SCRIPT = "#!/bin/sh\ntest ! -e bug\n";

export interface LinearRepo {
  dir: string;
  /** c<i> → full sha. */
  shas: Map<string, string>;
}

/**
 * Builds the repository in a fresh directory under `parent`. `culprit` beyond the end (e.g. 1000)
 * makes a range with no regression; `extra(i)` adds files to commit c<i> (undefined values are
 * left out).
 */
export async function linearRepo(
  parent: string,
  n: number,
  culprit: number,
  extra: (i: number) => Record<string, string | undefined> = () => ({}),
): Promise<LinearRepo> {
  const dir = await tempDir(join(parent, "repo"));
  const commits: DagCommit[] = Array.from({ length: n }, (_, i) => {
    const files: Record<string, string> = { ...(i === 0 ? { "check.sh": CHECK_SCRIPT } : {}), ...(i === culprit ? { bug: "yes\n" } : {}) };
    for (const [path, content] of Object.entries(extra(i))) if (content !== undefined) files[path] = content;
    return { id: `c${i}`, parents: i === 0 ? [] : [`c${i - 1}`], files };
  });
  const shas = await buildRepo(dir, commits, { tags: { "v1.0": "c0" } });
  await git(dir, ["checkout", "--quiet", "--force", "main"]);
  return { dir, shas };
}

/** The position of a commit of a linear repository (c<i> → i). */
export function positionOf(shas: ReadonlyMap<string, string>, sha: string): number {
  const id = [...shas].find(([, s]) => s === sha)?.[0];
  if (!id) throw new Error(`${sha} is not a commit of the test repository`);
  return Number(id.slice(1));
}
