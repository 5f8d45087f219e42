/**
 * Test support: a repository as a Bisect Bot user has it — the bisect workflow on the default
 * branch, a release tag, commits and a merged branch after it — as a real git repository.
 */
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { git, tempDir } from "./dag-repo.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface AppRepo {
  dir: string;
  /** Full SHAs by name: root (before v1.0), v1.0, main, feature tip, mergeCommit, and c1…cN on main. */
  sha: Record<string, string>;
}

export interface AppRepoOptions {
  /** Commits on main after v1.0 (before the merge). Default 12. */
  commits?: number;
  /** `.github/bisect.yml` content, if any. */
  config?: string;
  /** Leave out `.github/workflows/bisect.yml`. */
  withoutWorkflow?: boolean;
  /** Commit messages for some of c1…cN, by name (e.g. a hostile subject). */
  subjects?: Record<string, string>;
}

/**
 * main: root ← v1.0 ← c1 … cN ← merge(feature: f1, f2) ; tag v1.0 ; branch feature.
 * The workflow and config are in the root commit, so every commit of main has them.
 */
export async function makeAppRepo(options: AppRepoOptions = {}): Promise<AppRepo> {
  const dir = await tempDir("bisect-app-repo");
  // Fixed dates, one minute apart: the same options always give the same SHAs.
  let tick = 0;
  const run = async (...args: string[]) => {
    const date = new Date(Date.UTC(2026, 10, 20, 10, tick++)).toISOString();
    return (await git(dir, args, { env: { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } })).stdout.trim();
  };
  await run("init", "-q", "-b", "main");
  await mkdir(path.join(dir, ".github/workflows"), { recursive: true });
  if (!options.withoutWorkflow) await copyFile(path.join(ROOT, ".github/workflows/bisect.yml"), path.join(dir, ".github/workflows/bisect.yml"));
  await writeFile(path.join(dir, ".github/workflows/ci.yml"), "on: push\njobs: {}\n");
  if (options.config !== undefined) await writeFile(path.join(dir, ".github/bisect.yml"), options.config);
  await writeFile(path.join(dir, "value.txt"), "0\n");
  await run("add", "-A");
  await run("commit", "-q", "-m", "root");
  await writeFile(path.join(dir, "value.txt"), "1\n");
  await run("commit", "-q", "-am", "release 1.0");
  await run("tag", "-a", "v1.0", "-m", "v1.0");
  const sha: Record<string, string> = { "v1.0": await run("rev-parse", "v1.0^{commit}") };
  const n = options.commits ?? 12;
  await run("branch", "feature");
  for (let i = 1; i <= n; i++) {
    await writeFile(path.join(dir, "value.txt"), `${i + 1}\n`);
    await run("commit", "-q", "-am", options.subjects?.[`c${i}`] ?? `c${i}`);
    sha[`c${i}`] = await run("rev-parse", "HEAD");
  }
  await run("checkout", "-q", "feature");
  for (const f of ["f1", "f2"]) {
    await writeFile(path.join(dir, `${f}.txt`), `${f}\n`);
    await run("add", "-A");
    await run("commit", "-q", "-m", f);
    sha[f] = await run("rev-parse", "HEAD");
  }
  sha.feature = sha.f2!;
  await run("branch", "c-tip", sha[`c${n}`]!);
  await run("branch", "v1.0-branch", "v1.0");
  await run("checkout", "-q", "main");
  await run("merge", "-q", "--no-ff", "-m", "Merge feature", "feature");
  sha.mergeCommit = await run("rev-parse", "HEAD");
  sha.main = sha.mergeCommit;
  // Read last: every git call moves the fixture's clock, and the commits' dates stay as they were.
  sha.root = await run("rev-parse", "v1.0^");
  return { dir, sha };
}
