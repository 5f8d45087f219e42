/**
 * Test support: build real git repositories from an abstract commit DAG.
 *
 * One `git fast-import` call writes every commit, so even a few hundred commits
 * take a few tens of milliseconds. Commit objects are deterministic given the ids
 * and their order (fixed author, committer and monotonically increasing dates), so
 * the same DAG always yields the same shas.
 */
import { execFile, spawn } from "node:child_process";
import { appendFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

export interface DagCommit {
  /** Caller's name for the commit (used as the commit message and in the `id` file). */
  id: string;
  /** Ids of the parents, first parent first. Each must appear earlier in the list. */
  parents: string[];
  /** Extra files to write in this commit: path -> content. */
  files?: Record<string, string>;
}

export interface BuildRepoOptions {
  /** Branch name -> commit id; creates `refs/heads/<name>`. */
  branches?: Record<string, string>;
  /** Tag name -> commit id; creates lightweight `refs/tags/<name>`. */
  tags?: Record<string, string>;
}

/** The branch HEAD points to. Created at the last commit unless `branches` sets it. */
export const HEAD_BRANCH = "main";

/** Fixed epoch of the first commit; every later commit is one minute younger. */
const BASE_TIME = 1_112_911_993;

/**
 * Environment for git child processes: no user/system config, fixed identity,
 * no pager, no prompts. Inherits PATH and the rest of process.env.
 */
export function gitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_AUTHOR_NAME: "A U Thor",
    GIT_AUTHOR_EMAIL: "author@example.com",
    GIT_COMMITTER_NAME: "C O Mitter",
    GIT_COMMITTER_EMAIL: "committer@example.com",
    GIT_TERMINAL_PROMPT: "0",
    GIT_PAGER: "cat",
    PAGER: "cat",
    LC_ALL: "C",
    ...extra,
  };
}

export interface GitResult {
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * Runs `git <args>` in `cwd` (no shell). Rejects on a non-zero exit unless
 * `allowFailure` is set, in which case the exit code is returned.
 */
export function git(
  cwd: string,
  args: string[],
  options: { allowFailure?: boolean; env?: Record<string, string>; input?: string | Buffer } = {},
): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = execFile("git", args, { cwd, env: gitEnv(options.env), maxBuffer: 256 * 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      if (code !== 0 && !options.allowFailure) {
        reject(new Error(`git ${args.join(" ")} failed (${code}) in ${cwd}:\n${stderr}${stdout}`));
        return;
      }
      resolve({ stdout, stderr, code });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/**
 * Creates a fresh directory named `<prefix>-XXXXXX`: under the OS temp dir for a plain name,
 * or exactly there for an absolute path (like mkdtemp, e.g. inside another temp dir).
 */
export function tempDir(prefix: string): Promise<string> {
  if (path.isAbsolute(prefix)) return mkdtemp(`${prefix}-`);
  return mkdtemp(path.join(tmpdir(), `${prefix.replace(/[^A-Za-z0-9._-]/g, "_")}-`));
}

/** Removes a directory created by {@link tempDir} (recursively; missing is fine). */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Runs `fn` with a fresh temporary directory and removes it afterwards. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await tempDir(prefix);
  try {
    return await fn(dir);
  } finally {
    await removeDir(dir);
  }
}

function data(text: string): string {
  return `data ${Buffer.byteLength(text, "utf8")}\n${text}\n`;
}

function refName(kind: "heads" | "tags", name: string): string {
  if (!/^[A-Za-z0-9._/-]+$/.test(name) || name.includes("..") || name.startsWith("/") || name.endsWith("/")) {
    throw new Error(`invalid ${kind === "heads" ? "branch" : "tag"} name: ${JSON.stringify(name)}`);
  }
  return `refs/${kind}/${name}`;
}

/** Builds the fast-import stream. Exported for tests of this helper. */
export function fastImportStream(commits: DagCommit[], options: BuildRepoOptions = {}): string {
  const mark = new Map<string, number>();
  const scratch = "refs/dag-import/scratch";
  const out: string[] = [];
  commits.forEach((commit, index) => {
    if (mark.has(commit.id)) throw new Error(`duplicate commit id: ${commit.id}`);
    if (new Set(commit.parents).size !== commit.parents.length) {
      throw new Error(`commit ${commit.id} lists a parent twice`);
    }
    const parentMarks = commit.parents.map((p) => {
      const m = mark.get(p);
      if (m === undefined) throw new Error(`commit ${commit.id}: parent ${p} is not listed before it`);
      return m;
    });
    const m = index + 1;
    mark.set(commit.id, m);
    const when = `${BASE_TIME + index * 60} +0000`;
    // `reset` detaches the scratch ref so a root commit gets no implicit parent.
    out.push(`reset ${scratch}\n`);
    out.push(`commit ${scratch}\nmark :${m}\n`);
    out.push(`author A U Thor <author@example.com> ${when}\n`);
    out.push(`committer C O Mitter <committer@example.com> ${when}\n`);
    out.push(data(commit.id));
    const [first, ...rest] = parentMarks;
    if (first !== undefined) out.push(`from :${first}\n`);
    for (const p of rest) out.push(`merge :${p}\n`);
    // Every commit changes `id`, so no commit is TREESAME to any parent.
    out.push(`M 100644 inline id\n${data(`${commit.id}\n`)}`);
    for (const [file, content] of Object.entries(commit.files ?? {})) {
      if (file === "id" || file.includes("\n") || file.startsWith("/")) throw new Error(`invalid file path: ${file}`);
      out.push(`M 100644 inline ${file}\n${data(content)}`);
    }
    out.push("\n");
  });
  const markOf = (id: string): number => {
    const m = mark.get(id);
    if (m === undefined) throw new Error(`ref target ${id} is not a commit id`);
    return m;
  };
  const branches = { ...(options.branches ?? {}) };
  const last = commits.at(-1);
  if (last && branches[HEAD_BRANCH] === undefined) branches[HEAD_BRANCH] = last.id;
  for (const [name, id] of Object.entries(branches)) out.push(`reset ${refName("heads", name)}\nfrom :${markOf(id)}\n\n`);
  for (const [name, id] of Object.entries(options.tags ?? {})) out.push(`reset ${refName("tags", name)}\nfrom :${markOf(id)}\n\n`);
  return out.join("");
}

function runFastImport(dir: string, stream: string, marksFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", ["fast-import", "--quiet", "--done", `--export-marks=${marksFile}`], {
      cwd: dir,
      env: gitEnv(),
      stdio: ["pipe", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`git fast-import failed (${code}) in ${dir}:\n${stderr}`));
    });
    child.stdin.on("error", () => undefined); // reported through the exit code
    child.stdin.end(`${stream}done\n`);
  });
}

/**
 * Creates a git repo in `dir` (git init, user config) whose commits are `commits`
 * (parents listed before children), using ONE `git fast-import` call. Each commit
 * rewrites the file `id`, so every commit's tree differs from its parents'. Commit
 * dates increase monotonically (one minute apart) in list order.
 *
 * Refs: `branches` and `tags` as given; `refs/heads/main` (HEAD) is set to the last
 * commit unless `branches.main` is given. No working tree is checked out.
 *
 * Returns id -> full sha.
 */
export async function buildRepo(dir: string, commits: DagCommit[], options: BuildRepoOptions = {}): Promise<Map<string, string>> {
  const stream = fastImportStream(commits, options);
  await git(dir, ["init", "--quiet", `--initial-branch=${HEAD_BRANCH}`]);
  // Same as four `git config` calls, without four processes.
  await appendFile(
    path.join(dir, ".git", "config"),
    "[user]\n\tname = A U Thor\n\temail = author@example.com\n[commit]\n\tgpgsign = false\n[gc]\n\tauto = 0\n",
  );
  const marksFile = path.join(dir, ".git", "dag-import-marks");
  await runFastImport(dir, stream, marksFile);
  const byMark = new Map<number, string>();
  for (const line of (await readFile(marksFile, "utf8")).split("\n")) {
    const match = /^:(\d+) ([0-9a-f]{40,64})$/.exec(line);
    if (match) byMark.set(Number(match[1]), match[2] as string);
  }
  await rm(marksFile, { force: true });
  await git(dir, ["update-ref", "-d", "refs/dag-import/scratch"]);
  const shas = new Map<string, string>();
  commits.forEach((commit, index) => {
    const sha = byMark.get(index + 1);
    if (!sha) throw new Error(`fast-import did not report a sha for ${commit.id}`);
    shas.set(commit.id, sha);
  });
  return shas;
}
