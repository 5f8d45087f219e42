/**
 * The git side of the GitHub double: every answer about commits, refs, trees and blobs comes from
 * a real repository through `git` (execFile, no shell), so fixtures cannot drift from history.
 */
import { execFile } from "node:child_process";
import { gitEnv } from "../dag-repo.js";

interface RunResult {
  stdout: Buffer;
  code: number;
}

/** Directories of repositories whose history does not change while the process runs (DoubleRepository.frozen). */
const frozen = new Set<string>();
/** The answers of git in frozen repositories, by directory, arguments and environment. */
const frozenAnswers = new Map<string, Promise<RunResult>>();

/**
 * Promises that the repository in `dir` (refs, objects, HEAD) does not change from now on in this
 * process: git's answers there are then computed once and reused. Forking git costs milliseconds of
 * the double's event loop; a load test asking the same questions thousands of times can't afford it.
 */
export function freezeRepository(dir: string): void {
  frozen.add(dir);
}

/** Runs git in `dir`; a non-zero exit is returned, not thrown (most lookups may legitimately miss). */
function run(dir: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  if (!frozen.has(dir)) return runGit(dir, args, env);
  const key = JSON.stringify([dir, args, env]);
  let answer = frozenAnswers.get(key);
  if (!answer) {
    answer = runGit(dir, args, env);
    frozenAnswers.set(key, answer);
    answer.catch(() => frozenAnswers.delete(key));
  }
  return answer;
}

function runGit(dir: string, args: string[], env: Record<string, string>): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      "git",
      args,
      { cwd: dir, env: gitEnv(env), maxBuffer: 256 * 1024 * 1024, encoding: "buffer" },
      // Node's ExecFileException, seen as the Error it is.
      (error: (Error & { code?: string | number | null }) | null, stdout) => {
        if (error && typeof error.code !== "number") {
          reject(error);
          return;
        }
        resolve({ stdout, code: error ? (error.code as number) : 0 });
      },
    );
  });
}

async function text(dir: string, args: string[], env?: Record<string, string>): Promise<string | null> {
  const { stdout, code } = await run(dir, args, env);
  return code === 0 ? stdout.toString("utf8") : null;
}

/** Resolves any revision expression (`main~2`, `v1`, `HEAD:path`) to an object id, or null. */
export async function resolveExpression(dir: string, expression: string): Promise<string | null> {
  if (expression === "" || expression.includes("\0")) return null;
  const out = await text(dir, ["rev-parse", "--verify", "--quiet", "--end-of-options", expression]);
  return out === null ? null : out.trim() || null;
}

/** Resolves a revision to the commit it names (peeling tags), or null. */
export function resolveCommit(dir: string, revision: string): Promise<string | null> {
  return resolveExpression(dir, `${revision}^{commit}`);
}

export type ObjectType = "commit" | "tag" | "tree" | "blob";

/** `git cat-file -t`, or null for a missing object. */
export async function objectType(dir: string, oid: string): Promise<ObjectType | null> {
  if (!/^[0-9a-f]{4,64}$/.test(oid)) return null;
  const out = await text(dir, ["cat-file", "-t", oid]);
  const type = out?.trim();
  return type === "commit" || type === "tag" || type === "tree" || type === "blob" ? type : null;
}

/** The branch HEAD points at (a bare repo's HEAD is its default branch). */
export async function headBranch(dir: string): Promise<string | null> {
  const out = await text(dir, ["symbolic-ref", "--quiet", "--short", "HEAD"]);
  return out?.trim() || null;
}

/** The repository's default branch: as configured on the double, else its HEAD branch. */
export async function defaultBranchOf(repo: { path: string; defaultBranch?: string }): Promise<string> {
  return repo.defaultBranch ?? (await headBranch(repo.path)) ?? "main";
}

export interface ResolvedRef {
  /** `refs/heads/` or `refs/tags/`. */
  prefix: "refs/heads/" | "refs/tags/";
  /** The short name, e.g. `main`. */
  name: string;
  /** What the ref points at: a commit, or an annotated tag object. */
  oid: string;
}

/**
 * Resolves a branch or tag the way GitHub's `ref(qualifiedName)` and the dispatch API do: a fully
 * qualified `refs/heads/x` / `refs/tags/x` exactly, otherwise a short name as branch, then tag.
 * Shas and other expressions are not refs, so they give null.
 */
export async function resolveBranchOrTag(dir: string, ref: string): Promise<ResolvedRef | null> {
  const candidates: ResolvedRef["prefix"][] = ["refs/heads/", "refs/tags/"];
  for (const prefix of candidates) {
    const name = ref.startsWith("refs/") ? (ref.startsWith(prefix) ? ref.slice(prefix.length) : null) : ref;
    if (!name) continue;
    const out = await text(dir, ["show-ref", "--verify", "--hash", `${prefix}${name}`]);
    if (out?.trim()) return { prefix, name, oid: out.trim() };
  }
  return null;
}

export interface CommitInfo {
  oid: string;
  tree: string;
  parents: string[];
  authorName: string;
  authorEmail: string;
  authorDate: string;
  committerName: string;
  committerEmail: string;
  committerDate: string;
  message: string;
}

/** ISO 8601 in UTC without milliseconds, as GitHub prints timestamps. */
export function isoSeconds(date: Date | number | string): string {
  return new Date(date).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Reads several commits in one `git log --no-walk` call, in the order given. */
export async function commitInfos(dir: string, oids: string[]): Promise<CommitInfo[]> {
  if (oids.length === 0) return [];
  const format = ["%H", "%T", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%B"].join("%x00") + "%x1e";
  const out = await text(dir, ["log", "--no-walk=unsorted", `--format=${format}`, ...oids, "--"]);
  if (out === null) throw new Error(`git log failed for ${oids.join(" ")} in ${dir}`);
  return out
    .split("\x1e")
    .map((record) => record.replace(/^\n/, ""))
    .filter((record) => record !== "")
    .map((record) => {
      const [oid = "", tree = "", parents = "", an = "", ae = "", ad = "", cn = "", ce = "", cd = "", message = ""] = record.split("\0");
      return {
        oid,
        tree,
        parents: parents.split(" ").filter(Boolean),
        authorName: an,
        authorEmail: ae,
        authorDate: isoSeconds(ad),
        committerName: cn,
        committerEmail: ce,
        committerDate: isoSeconds(cd),
        message: message.replace(/\n$/, ""),
      };
    });
}

export async function commitInfo(dir: string, oid: string): Promise<CommitInfo> {
  const [info] = await commitInfos(dir, [oid]);
  if (!info) throw new Error(`no commit ${oid} in ${dir}`);
  return info;
}

/** The best common ancestor, or null for unrelated histories. */
export async function mergeBase(dir: string, a: string, b: string): Promise<string | null> {
  const out = await text(dir, ["merge-base", a, b]);
  return out?.trim() || null;
}

/** Commits reachable from `head` but not from `base`, oldest first (as the compare API lists them). */
export async function commitsBetween(dir: string, base: string, head: string): Promise<string[]> {
  const out = await text(dir, ["rev-list", "--reverse", head, `^${base}`, "--"]);
  if (out === null) throw new Error(`git rev-list ${base}..${head} failed in ${dir}`);
  return out.split("\n").filter(Boolean);
}

/** A file a commit changed, against its first parent (as GitHub lists a commit's files). */
export interface ChangedFile {
  filename: string;
  status: "added" | "removed" | "modified" | "renamed";
  additions: number;
  deletions: number;
  previousFilename?: string;
}

/** The files `oid` changed against its first parent (all of a root commit's), renames found. */
export async function changedFiles(dir: string, oid: string, parent: string | undefined): Promise<ChangedFile[]> {
  const range = parent === undefined ? ["--root", oid] : [parent, oid];
  const [status, numstat] = await Promise.all([
    text(dir, ["diff-tree", "-r", "--no-commit-id", "-M", "--name-status", "-z", ...range]),
    text(dir, ["diff-tree", "-r", "--no-commit-id", "-M", "--numstat", "-z", ...range]),
  ]);
  if (status === null || numstat === null) throw new Error(`git diff-tree failed for ${oid} in ${dir}`);
  const files: ChangedFile[] = [];
  const fields = status.split("\0").filter((f) => f !== "");
  for (let i = 0; i < fields.length;) {
    const code = fields[i++]!;
    if (code.startsWith("R")) {
      const previousFilename = fields[i++]!;
      files.push({ filename: fields[i++]!, status: "renamed", additions: 0, deletions: 0, previousFilename });
    } else {
      files.push({ filename: fields[i++]!, status: code === "A" ? "added" : code === "D" ? "removed" : "modified", additions: 0, deletions: 0 });
    }
  }
  // numstat -z: "added\tdeleted\tpath\0", or for renames "added\tdeleted\t\0old\0new\0".
  const parts = numstat.split("\0");
  for (let i = 0; i < parts.length; i++) {
    const match = /^(\d+|-)\t(\d+|-)\t(.*)$/.exec(parts[i]!);
    if (!match) continue;
    const path = match[3] !== "" ? match[3]! : parts[(i += 2)]!;
    const file = files.find((f) => f.filename === path);
    if (file) {
      file.additions = match[1] === "-" ? 0 : Number(match[1]);
      file.deletions = match[2] === "-" ? 0 : Number(match[2]);
    }
  }
  return files;
}

/** `git rev-list --count head ^base`. */
export async function countBetween(dir: string, base: string, head: string): Promise<number> {
  const out = await text(dir, ["rev-list", "--count", head, `^${base}`, "--"]);
  if (out === null) throw new Error(`git rev-list --count ${base}..${head} failed in ${dir}`);
  return Number(out.trim());
}

export interface TreeEntryInfo {
  mode: string;
  type: "blob" | "tree" | "commit";
  oid: string;
  /** Bytes for blobs; 0 for trees and submodules. */
  size: number;
  /** Path relative to the tree root. */
  path: string;
}

/**
 * `git ls-tree -l`: the entries of a tree, or with `path` the single entry at that path
 * (a directory path names the directory itself). Literal pathspecs, so no glob surprises.
 */
export async function lsTree(dir: string, treeish: string, path?: string): Promise<TreeEntryInfo[]> {
  const args = ["ls-tree", "-z", "-l", "--full-tree", treeish];
  if (path !== undefined) args.push("--", path.replace(/\/+$/, ""));
  const out = await text(dir, args, { GIT_LITERAL_PATHSPECS: "1" });
  if (out === null) return [];
  return out
    .split("\0")
    .filter(Boolean)
    .map((line) => {
      const tab = line.indexOf("\t");
      const [mode = "", type = "", oid = "", size = ""] = line.slice(0, tab).split(/ +/);
      return { mode, type: type as TreeEntryInfo["type"], oid, size: size === "-" ? 0 : Number(size), path: line.slice(tab + 1) };
    });
}

/** Raw bytes of a blob. */
export async function readBlob(dir: string, oid: string): Promise<Buffer | null> {
  const { stdout, code } = await run(dir, ["cat-file", "blob", oid]);
  return code === 0 ? stdout : null;
}

/** The text of `path` at `revision`, or null when the file does not exist there. */
export async function readFileAt(dir: string, revision: string, path: string): Promise<string | null> {
  const [entry] = await lsTree(dir, revision, path);
  if (!entry || entry.type !== "blob" || entry.path !== path) return null;
  return (await readBlob(dir, entry.oid))?.toString("utf8") ?? null;
}

export interface TagInfo {
  oid: string;
  object: string;
  type: ObjectType;
  name: string;
  taggerName: string | null;
  taggerEmail: string | null;
  taggerDate: string | null;
  message: string;
}

/** Parses an annotated tag object (`git cat-file tag`). */
export async function tagInfo(dir: string, oid: string): Promise<TagInfo> {
  const out = await text(dir, ["cat-file", "tag", oid]);
  if (out === null) throw new Error(`no tag object ${oid} in ${dir}`);
  const blank = out.indexOf("\n\n");
  const headers = (blank < 0 ? out : out.slice(0, blank)).split("\n");
  const header = (key: string) => headers.find((h) => h.startsWith(`${key} `))?.slice(key.length + 1) ?? null;
  const tagger = /^(.*) <([^>]*)> (\d+) [+-]\d{4}$/.exec(header("tagger") ?? "");
  return {
    oid,
    object: header("object") ?? "",
    type: (header("type") ?? "commit") as ObjectType,
    name: header("tag") ?? "",
    taggerName: tagger?.[1] ?? null,
    taggerEmail: tagger?.[2] ?? null,
    taggerDate: tagger ? isoSeconds(Number(tagger[3]) * 1000) : null,
    message: blank < 0 ? "" : out.slice(blank + 2),
  };
}
