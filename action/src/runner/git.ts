import { getExecOutput } from "@actions/exec";
import { readFile, rm } from "node:fs/promises";
import { resolve as resolvePath } from "node:path";
import type { CommitNode } from "../bisect/index.js";

/** What the bisect runner needs from git; an interface so tests and the Action can wrap it. */
export interface GitRepository {
  /** The top-level directory of the work tree. */
  readonly root: string;
  /** Resolves a ref to its full commit sha; throws "Unknown ref" naming it. */
  resolveCommit(ref: string): Promise<string>;
  isAncestor(ancestor: string, descendant: string): Promise<boolean>;
  /** Merge bases of `bad` and the goods taken together (`git merge-base --all bad goods…`). */
  mergeBases(bad: string, goods: readonly string[]): Promise<string[]>;
  /** The commits of `bad --not goods` with their parents (`git rev-list --parents`). */
  rangeCommits(bad: string, goods: readonly string[], firstParent: boolean): Promise<CommitNode[]>;
  describe(sha: string): Promise<CommitInfo>;
  describeMany(shas: readonly string[]): Promise<CommitInfo[]>;
  /** Registers a detached worktree at `sha` without checking it out (each probe checks out its commit in the test's process). */
  addWorktree(path: string, sha: string): Promise<void>;
  /** Removes worktrees (their directories and git's records of them). */
  removeWorktrees(paths: readonly string[]): Promise<void>;
}

export interface CommitInfo {
  sha: string;
  subject: string;
  authorName: string;
  authorEmail: string;
  /** ISO 8601 author date. */
  date: string;
}

/** Runs git and returns its stdout; throws with git's own message on a non-zero exit. */
async function git(cwd: string, args: readonly string[], options: { allowFailure?: boolean } = {}) {
  const out = await getExecOutput("git", [...args], { cwd, silent: true, ignoreReturnCode: true });
  if (out.exitCode !== 0 && !options.allowFailure) {
    const message = out.stderr.trim().split("\n").pop() ?? "";
    throw new Error(`git ${args.join(" ")} failed (exit ${out.exitCode}): ${message}`);
  }
  return out;
}

/** The git binary on PATH, in the repository that contains `dir`. */
export class GitCli implements GitRepository {
  /** Registrations tried again, one at a time, after the first tries. */
  private registering: Promise<unknown> = Promise.resolve();
  /** First tries of registrations under way. */
  private inFlight = 0;

  private constructor(readonly root: string) {}

  /** Opens the repository containing `dir`; throws a clear error when there is none. */
  static async open(dir: string): Promise<GitCli> {
    const out = await git(dir, ["rev-parse", "--show-toplevel"], { allowFailure: true }).catch((e: Error) => {
      throw new Error(`Cannot run git in '${dir}': ${e.message}. Is git installed and the directory present?`);
    });
    if (out.exitCode !== 0) {
      throw new Error(`'${dir}' is not inside a git repository. Run bisect-bot in a clone, or pass -C <dir>.`);
    }
    return new GitCli(out.stdout.trim());
  }

  async resolveCommit(ref: string): Promise<string> {
    if (ref.startsWith("-")) throw new Error(`Unknown ref '${ref}': a ref cannot start with '-'.`);
    const out = await git(this.root, ["rev-parse", "--verify", "--quiet", "--end-of-options", `${ref}^{commit}`], { allowFailure: true });
    if (out.exitCode !== 0) {
      throw new Error(`Unknown ref '${ref}': no commit by that name in ${this.root}. Check the spelling, or fetch it first (git fetch --tags).`);
    }
    return out.stdout.trim();
  }

  async isAncestor(ancestor: string, descendant: string): Promise<boolean> {
    const out = await git(this.root, ["merge-base", "--is-ancestor", ancestor, descendant], { allowFailure: true });
    if (out.exitCode > 1) throw new Error(`git merge-base --is-ancestor failed: ${out.stderr.trim()}`);
    return out.exitCode === 0;
  }

  async mergeBases(bad: string, goods: readonly string[]): Promise<string[]> {
    const out = await git(this.root, ["merge-base", "--all", bad, ...goods], { allowFailure: true });
    return out.stdout.split("\n").filter(Boolean);
  }

  async rangeCommits(bad: string, goods: readonly string[], firstParent: boolean): Promise<CommitNode[]> {
    const args = ["rev-list", "--parents", ...(firstParent ? ["--first-parent"] : []), bad, "--not", ...goods, "--"];
    const out = await git(this.root, args);
    return out.stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [sha, ...parents] = line.split(" ");
        return { sha: sha!, parents };
      });
  }

  /** The paths `sha` changed against its first parent (all of a root commit's). */
  async changedPaths(sha: string): Promise<string[]> {
    const out = await git(this.root, ["diff-tree", "--no-commit-id", "--name-only", "-r", "-z", "-m", "--first-parent", "--root", sha, "--"]);
    return out.stdout.split("\0").filter(Boolean);
  }

  async describe(sha: string): Promise<CommitInfo> {
    const [info] = await this.describeMany([sha]);
    return info!;
  }

  /** Subject, author and date of many commits in one git call, in the order given. */
  async describeMany(shas: readonly string[]): Promise<CommitInfo[]> {
    if (shas.length === 0) return [];
    const out = await git(this.root, ["log", "--no-walk=unsorted", "--format=%H%x00%s%x00%an%x00%ae%x00%aI", ...shas, "--"]);
    const byLine = out.stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [sha, subject, authorName, authorEmail, date] = line.split("\0");
        return { sha: sha!, subject: subject!, authorName: authorName!, authorEmail: authorEmail!, date: date! };
      });
    const bySha = new Map(byLine.map((c) => [c.sha, c]));
    return shas.map((s) => bySha.get(s) ?? byLine.find((c) => c.sha.startsWith(s))!);
  }

  /** The refs that do not name a commit present in the object database (one git call). */
  async missingCommits(refs: readonly string[]): Promise<string[]> {
    const input = Buffer.from(refs.map((r) => `${r}^{commit}\n`).join(""));
    const out = await getExecOutput("git", ["cat-file", "--batch-check"], { cwd: this.root, silent: true, input, ignoreReturnCode: true });
    const lines = out.stdout.split("\n");
    return refs.filter((_, i) => !/^[0-9a-f]+ commit /.test(lines[i] ?? ""));
  }

  async fetch(args: readonly string[]): Promise<void> {
    await git(this.root, ["fetch", "--quiet", ...args]);
  }

  async isShallow(): Promise<boolean> {
    return (await git(this.root, ["rev-parse", "--is-shallow-repository"])).stdout.trim() === "true";
  }

  /** The shallow boundary (the commits whose parents were not fetched), as git records it. */
  async shallowBoundary(): Promise<string> {
    const path = (await git(this.root, ["rev-parse", "--git-path", "shallow"])).stdout.trim();
    return readFile(resolvePath(this.root, path), "utf8").catch(() => "");
  }

  /** How many commits of `bad --not goods` sit on the shallow boundary (0: the range is whole). */
  async shallowCommitsIn(bad: string, goods: readonly string[]): Promise<number> {
    const boundary = new Set((await this.shallowBoundary()).split("\n").filter(Boolean));
    if (boundary.size === 0) return 0;
    const range = await git(this.root, ["rev-list", bad, "--not", ...goods, "--"]);
    return range.stdout.split("\n").filter((sha) => boundary.has(sha)).length;
  }

  async addWorktree(path: string, sha: string): Promise<void> {
    // Registrations run at once (one after another they cost a round's worth of time at the
    // start). A registration reads every other worktree's admin files, and one being written at
    // the same moment can make it fail ("failed to read …/commondir", about 1 in 40 here): a
    // failed one is tried again when the others are done, one at a time (chained synchronously:
    // awaiting a shared promise would let two start together).
    const args = ["worktree", "add", "--detach", "--force", "--no-checkout", path, sha];
    this.inFlight++;
    const first = await git(this.root, args, { allowFailure: true }).finally(() => this.inFlight--);
    if (first.exitCode === 0) return;
    const retry = this.registering.then(async () => {
      while (this.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 5));
      await rm(path, { recursive: true, force: true });
      await git(this.root, ["worktree", "prune"], { allowFailure: true });
      await git(this.root, args);
    });
    this.registering = retry.catch(() => undefined);
    await retry;
  }

  async removeWorktrees(paths: readonly string[]): Promise<void> {
    // Deleting the directories and pruning once is what `git worktree remove` does per tree,
    // without four processes contending for the same admin directory.
    await Promise.all(paths.map((p) => rm(p, { recursive: true, force: true })));
    await git(this.root, ["worktree", "prune"], { allowFailure: true });
  }
}
