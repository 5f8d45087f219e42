/** The worktree pool on a real repository: what a killed probe leaves behind does not stop the next. */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GitCli } from "../../action/src/runner/git.js";
import { runTest } from "../../action/src/runner/run-test.js";
import { WorktreePool } from "../../action/src/runner/worktree-pool.js";
import { removeDir, tempDir } from "../support/dag-repo.js";
import { linearRepo } from "../support/linear-repo.js";

let scratch: string;
beforeAll(async () => {
  scratch = await tempDir("worktree-pool");
});
afterAll(() => removeDir(scratch));

async function lockOf(worktree: string): Promise<string> {
  const gitdir = /^gitdir: (.+)$/m.exec(await readFile(join(worktree, ".git"), "utf8"))![1]!.trim();
  return join(gitdir, "index.lock");
}

describe("WorktreePool", () => {
  it("a probe killed inside its checkout leaves git's index.lock; the worktree's next probe checks out all the same", async () => {
    const { dir, shas } = await linearRepo(scratch, 6, 3);
    const git = await GitCli.open(dir);
    const pool = new WorktreePool(git, 1, scratch);
    try {
      const worktree = await pool.acquire(shas.get("c5")!);
      const first = await runTest({ argv: ["true"], cwd: worktree.path, checkout: shas.get("c1")! });
      expect(first.verdict).toBe("good");
      // What SIGKILL in the middle of `git checkout` leaves behind.
      await writeFile(await lockOf(worktree.path), "");
      pool.release(worktree, true);

      const again = await pool.acquire(shas.get("c5")!);
      expect(again).toBe(worktree);
      const second = await runTest({ argv: ["sh", "-c", "git rev-parse HEAD"], cwd: again.path, checkout: shas.get("c4")!, output: () => undefined });
      expect(second).toMatchObject({ verdict: "good", exitCode: 0 });
    } finally {
      await pool.dispose();
    }
  });

  it("without the cleanup the lock would fail the checkout: the error names git's complaint and the commit", async () => {
    const { dir, shas } = await linearRepo(scratch, 6, 3);
    const git = await GitCli.open(dir);
    const pool = new WorktreePool(git, 1, scratch);
    try {
      const worktree = await pool.acquire(shas.get("c5")!);
      await runTest({ argv: ["true"], cwd: worktree.path, checkout: shas.get("c1")! });
      await writeFile(await lockOf(worktree.path), "");
      // Released as if its probe ended normally: nothing clears the lock.
      pool.release(worktree);
      const again = await pool.acquire(shas.get("c5")!);
      await expect(runTest({ argv: ["true"], cwd: again.path, checkout: shas.get("c4")! })).rejects.toThrow(
        new RegExp(`^git checkout --detach --force --quiet ${shas.get("c4")} failed: .*`),
      );
    } finally {
      await pool.dispose();
    }
  });
});
