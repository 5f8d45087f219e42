/** The git layer on real repositories. */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GitCli } from "../../action/src/runner/git.js";
import { buildRepo, git, removeDir, tempDir } from "../support/dag-repo.js";

let dir: string;
let shas: Map<string, string>;
beforeAll(async () => {
  dir = await tempDir("git-layer");
  await mkdir(join(dir, "repo"));
  shas = await buildRepo(
    join(dir, "repo"),
    Array.from({ length: 20 }, (_, i) => ({ id: `c${i}`, parents: i ? [`c${i - 1}`] : [] })),
    {
      tags: { "v1.0": "c0" },
    },
  );
});
afterAll(() => removeDir(dir));

describe("GitCli", () => {
  it("registers many worktrees at once without tripping over each other's admin files", async () => {
    const repo = await GitCli.open(join(dir, "repo"));
    const paths = Array.from({ length: 20 }, (_, i) => join(dir, "wt", `worker-${i}`));
    await Promise.all(paths.map((p, i) => repo.addWorktree(p, shas.get(`c${i}`)!)));
    await Promise.all(paths.map((p, i) => git(p, ["checkout", "--detach", "--force", "--quiet", shas.get(`c${i}`)!])));
    for (const [i, p] of paths.entries()) {
      expect((await git(p, ["rev-parse", "HEAD"])).stdout.trim()).toBe(shas.get(`c${i}`));
    }
    await repo.removeWorktrees(paths);
    expect((await git(join(dir, "repo"), ["worktree", "list"])).stdout.trim().split("\n")).toHaveLength(1);
  });

  it("resolves refs to full shas and names an unknown one", async () => {
    const repo = await GitCli.open(join(dir, "repo"));
    expect(await repo.resolveCommit("v1.0")).toBe(shas.get("c0"));
    expect(await repo.resolveCommit("main~1")).toBe(shas.get("c18"));
    await expect(repo.resolveCommit("v2.0")).rejects.toThrow(/Unknown ref 'v2.0'/);
    await expect(repo.resolveCommit("--output=/tmp/x")).rejects.toThrow(/cannot start with '-'/);
  });
});
