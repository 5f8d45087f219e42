import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { GitRepository } from "./git.js";

/** A detached git worktree that one probe at a time runs in. */
export interface Worktree {
  readonly id: number;
  path: string;
  /** Its last probe was killed, maybe inside its checkout: a lock git left may still be there. */
  interrupted?: boolean;
}

/**
 * Up to `size` detached worktrees in a temporary directory, created on first use and reused
 * between probes. The user's own work tree and HEAD are never touched. `dispose()` removes them
 * all; the CLI calls it on exit and on Ctrl-C.
 */
export class WorktreePool {
  private readonly free: Worktree[] = [];
  private readonly all: Worktree[] = [];
  private readonly warming: Promise<Worktree>[] = [];
  private baseDir: Promise<string> | undefined;

  constructor(
    private readonly git: GitRepository,
    private readonly size: number,
    private readonly parentDir: string = tmpdir(),
  ) {}

  /**
   * Registers every worktree now, so the first probes only check out their commits. The runner
   * starts this while it reads the history. Failures surface on `acquire`.
   */
  warm(sha: string): void {
    while (this.all.length < this.size) {
      const creating = this.create(sha);
      creating.catch(() => undefined);
      this.warming.push(creating);
    }
  }

  /**
   * A free worktree, registered at `sha` when it is new; the caller checks out the commit it tests
   * (runTest's `checkout`, in the test's own process). Callers never hold more than `size` at once.
   */
  async acquire(sha: string): Promise<Worktree> {
    const warmed = this.warming.shift();
    const worktree = warmed ? await warmed : this.free.pop();
    if (worktree?.interrupted) {
      worktree.interrupted = false;
      await this.clearLocks(worktree);
    }
    if (worktree) return worktree;
    if (this.all.length >= this.size) throw new Error(`All ${this.size} worktrees are in use.`);
    return this.create(sha);
  }

  /**
   * Removes the locks a killed git leaves in a worktree's own git directory (the index's and
   * HEAD's). Safe: the worktree is this pool's alone and nothing runs in it while it is held.
   */
  async clearLocks(worktree: Worktree): Promise<void> {
    const gitDir = await gitDirOf(worktree.path);
    await Promise.all(["index.lock", "HEAD.lock"].map((name) => rm(join(gitDir, name), { force: true })));
  }

  /** Registers one more worktree (not checked out yet). */
  private async create(sha: string): Promise<Worktree> {
    // Memoise the promise: concurrent first acquisitions must share one directory.
    this.baseDir ??= mkdtemp(join(this.parentDir, "bisect-bot-"));
    const id = this.all.length;
    const worktree = { id, path: "" };
    this.all.push(worktree); // reserve the slot before awaiting
    worktree.path = join(await this.baseDir, `worker-${id}`);
    await this.git.addWorktree(worktree.path, sha);
    return worktree;
  }

  /**
   * Gives the worktree back. A probe that was killed (stopped, timed out) may have been killed in
   * the middle of its checkout, which leaves git's `index.lock` behind and makes the next checkout
   * there fail: such a worktree gets its lock removed before it is handed out again (it is this
   * pool's alone, and nothing runs in it any more).
   */
  release(worktree: Worktree, killed = false): void {
    if (killed) worktree.interrupted = true;
    this.free.push(worktree);
  }

  /** Removes every worktree and the temporary directory. Safe to call twice. */
  async dispose(): Promise<void> {
    await Promise.allSettled(this.warming.splice(0));
    const all = this.all.splice(0);
    this.free.length = 0;
    await this.git.removeWorktrees(all.map((w) => w.path).filter(Boolean));
    if (this.baseDir) await rm(await this.baseDir, { recursive: true, force: true });
    this.baseDir = undefined;
  }
}

/** A worktree's own git directory (its `.git` file says `gitdir: <path>`). */
async function gitDirOf(worktreePath: string): Promise<string> {
  const pointer = await readFile(join(worktreePath, ".git"), "utf8");
  const gitdir = /^gitdir: (.+)$/m.exec(pointer)?.[1]?.trim();
  if (!gitdir) throw new Error(`${worktreePath}/.git does not name the worktree's git directory.`);
  return gitdir;
}
