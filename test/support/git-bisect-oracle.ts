/**
 * Test support: real `git bisect run` as an oracle, and one differential case that runs both
 * git and our engine on the same scenario (research doc §7.C).
 *
 * The oracle script is `[HEAD in skip-set] && exit 125; git merge-base --is-ancestor <culprit>
 * HEAD && exit 1; exit 0`. It uses `git bisect start --no-checkout`, so HEAD is BISECT_HEAD and
 * no working tree is touched, which keeps a bisection of ~7 steps well under 0.1 s.
 */
import { access, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { Bisection, type BisectStatus } from "../../action/src/bisect/index.js";
import type { Reason } from "../../action/src/result-document.js";
import { buildRepo, git, removeDir, tempDir } from "./dag-repo.js";
import { ancestorsOf, descendantsOf, type Scenario } from "./random-dag.js";

export type Verdict = "good" | "bad" | "skip";

/** What `git bisect run` concluded. Shas are full hex. */
export type GitBisectOutcome =
  | { kind: "culprit"; sha: string }
  /** "There are only 'skip'ped commits left to test. The first bad commit could be any of: …" (exit 2). */
  | { kind: "ambiguous"; candidates: string[] }
  /** "The merge base <sha> is bad. This means the bug has been fixed between …". */
  | { kind: "merge-base-bad"; sha: string }
  | { kind: "unknown"; code: number; output: string };

export interface GitBisectResult {
  outcome: GitBisectOutcome;
  /** Test script invocations (merge-base checks and skips included). */
  tests: number;
  /** The commits git tested, in order. */
  probes: string[];
}

// POSIX sh, builtins only apart from the one `git merge-base` (HEAD is BISECT_HEAD under
// --no-checkout; it is a loose pseudo-ref file in git 2.39; fall back to rev-parse if not).
export const ORACLE_SCRIPT = [
  'if [ -f "$ORACLE_GIT_DIR/BISECT_HEAD" ]; then read -r h < "$ORACLE_GIT_DIR/BISECT_HEAD"; else h=$(git rev-parse BISECT_HEAD) || exit 255; fi',
  'echo "$h" >> "$ORACLE_PROBES"',
  'case " $ORACLE_SKIPS " in *" $h "*) exit 125;; esac',
  'git merge-base --is-ancestor "$ORACLE_CULPRIT" "$h" && exit 1',
  "exit 0",
].join("\n");

let bisectCommand: Promise<string[]> | undefined;

/**
 * The git subcommand that runs `git bisect <sub>`. In git 2.39, `git bisect` is a shell script
 * that sources git-sh-setup (~50 ms per call) and then runs `git bisect--helper <sub> …`; we
 * call the helper directly, which runs the very same code. Newer gits have a builtin bisect.
 */
export function gitBisect(): Promise<string[]> {
  bisectCommand ??= (async () => {
    const execPath = (await git(process.cwd(), ["--exec-path"])).stdout.trim();
    try {
      const wrapper = await readFile(path.join(execPath, "git-bisect"), "utf8");
      if (wrapper.startsWith("#!") && /git bisect--helper "\$cmd" "\$@"/.test(wrapper)) return ["bisect--helper"];
    } catch {
      // No script: a builtin `git bisect`.
    }
    return ["bisect"];
  })();
  return bisectCommand;
}

/** Ends any bisection in `dir` and deletes refs/bisect/* and the bisect state files. */
export async function clearBisectState(dir: string): Promise<void> {
  await git(dir, [...(await gitBisect()), "reset"], { allowFailure: true });
  const refs = (await git(dir, ["for-each-ref", "--format=%(refname)", "refs/bisect/"])).stdout.split("\n").filter(Boolean);
  if (refs.length > 0) await git(dir, ["update-ref", "--stdin"], { input: refs.map((r) => `delete ${r}\n`).join("") });
}

/** Whether `dir` may hold bisect state (cheap file checks; packed refs/bisect count too). */
async function mayHoldBisectState(gitDir: string): Promise<boolean> {
  for (const f of ["BISECT_START", "BISECT_LOG", "refs/bisect"]) if (await exists(path.join(gitDir, f))) return true;
  try {
    return (await readFile(path.join(gitDir, "packed-refs"), "utf8")).includes(" refs/bisect/");
  } catch {
    return false;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/** Parses the combined output of `git bisect run`. */
export function parseBisectRunOutput(output: string, code: number, newTerm = "bad"): GitBisectOutcome {
  const culprit = new RegExp(`^([0-9a-f]{40,64}) is the first ${newTerm} commit$`, "m").exec(output);
  if (culprit) return { kind: "culprit", sha: culprit[1]! };
  const any = new RegExp(`The first ${newTerm} commit could be any of:\\n((?:[0-9a-f]{40,64}\\n)+)`).exec(output);
  if (any) return { kind: "ambiguous", candidates: any[1]!.trim().split("\n") };
  const mergeBase = /The merge base ([0-9a-f]{40,64}) is bad\./.exec(output);
  if (mergeBase) return { kind: "merge-base-bad", sha: mergeBase[1]! };
  return { kind: "unknown", code, output };
}

/**
 * Runs `git bisect start --no-checkout <bad> <goods…>` then `git bisect run` with the oracle
 * script in `dir` (which must hold no other bisection). Leaves no bisect state behind.
 */
export async function runGitBisect(
  dir: string,
  input: { bad: string; goods: readonly string[]; culprit: string; skips: readonly string[]; terms?: { old: string; new: string } },
): Promise<GitBisectResult> {
  // With terms (git bisect start --term-old broken --term-new fixed), `bisect run` still reads
  // exit 0 as the old term and 1–127 as the new one: the oracle script answers in those terms.
  const terms = input.terms ? ["--term-old", input.terms.old, "--term-new", input.terms.new] : [];
  const newTerm = input.terms?.new ?? "bad";
  const gitDir = path.join(dir, ".git");
  const probesFile = path.join(gitDir, "oracle-probes");
  const bisect = await gitBisect();
  if (await mayHoldBisectState(gitDir)) await clearBisectState(dir);
  await writeFile(probesFile, "");
  const env = { ORACLE_GIT_DIR: gitDir, ORACLE_PROBES: probesFile, ORACLE_SKIPS: input.skips.join(" "), ORACLE_CULPRIT: input.culprit };
  try {
    // With a good that is not an ancestor of bad, `start` already checks out a merge base;
    // the script first tests it under `run`.
    const start = await git(dir, [...bisect, "start", ...terms, "--no-checkout", input.bad, ...input.goods], { allowFailure: true, env });
    let output = start.stdout + start.stderr;
    let outcome = parseBisectRunOutput(output, start.code, newTerm);
    // git 2.39 quirk: when a tested merge base is good and git checks out a second merge base,
    // `bisect run` stops with "bisect run success" (exit 0) although nothing was found yet. A
    // user would run it again, so we do, a bounded number of times; tests accumulate.
    for (let round = 0; start.code === 0 && outcome.kind === "unknown" && round < 64; round++) {
      const run = await git(dir, [...bisect, "run", "sh", "-c", ORACLE_SCRIPT], { allowFailure: true, env });
      output += run.stdout + run.stderr;
      outcome = parseBisectRunOutput(output, run.code, newTerm);
      if (run.code !== 0 || !/^bisect run success$/m.test(run.stdout)) break;
    }
    const probes = (await readFile(probesFile, "utf8")).split("\n").filter(Boolean);
    return { outcome, tests: probes.length, probes };
  } finally {
    // `bisect reset` deletes refs/bisect/* and the state files.
    await git(dir, [...bisect, "reset"], { allowFailure: true });
    await rm(probesFile, { force: true });
  }
}

/** The engine's input as the git layer would compute it: rev-list of the range, merge bases. */
export async function engineRange(
  dir: string,
  bad: string,
  goods: readonly string[],
  withMergeBases: boolean,
): Promise<{ commits: { sha: string; parents: string[] }[]; mergeBases?: string[] }> {
  const revList = await git(dir, ["rev-list", "--parents", bad, "--not", ...goods]);
  const commits = revList.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [sha, ...parents] = line.split(" ");
      return { sha: sha!, parents };
    });
  if (!withMergeBases) return { commits };
  // Exit 1 with no output when there is no common ancestor.
  const mb = await git(dir, ["merge-base", "--all", bad, ...goods], { allowFailure: true });
  if (mb.code > 1) throw new Error(`git merge-base failed: ${mb.stderr}`);
  const mergeBases = mb.stdout.split("\n").filter((s) => s && !goods.includes(s));
  return { commits, mergeBases };
}

export interface EngineResult {
  status: BisectStatus;
  tests: number;
  probes: string[];
  /** Set when the engine threw, or did not stop within the step limit. */
  failure?: string;
}

/** Drives our engine test by test with `verdictOf` until `next()` is empty. */
export function runEngine(
  input: { commits: { sha: string; parents: string[] }[]; bad: string; goods: readonly string[]; mergeBases?: string[] },
  verdictOf: (sha: string) => Verdict,
  options: { verifyBad?: boolean } = {},
): EngineResult {
  const probes: string[] = [];
  let b: Bisection;
  try {
    b = Bisection.create({
      commits: input.commits,
      bad: input.bad,
      goods: input.goods,
      mergeBases: input.mergeBases,
      verifyBad: options.verifyBad,
    });
  } catch (e) {
    return { status: { state: "error", reason: "no-verdict", message: String(e) }, tests: 0, probes, failure: `create threw: ${String(e)}` };
  }
  const limit = 2 * input.commits.length + (input.mergeBases?.length ?? 0) + 10;
  try {
    for (let [sha] = b.next(); sha; [sha] = b.next()) {
      if (probes.length >= limit) {
        return { status: b.status(), tests: b.tested, probes, failure: `no end after ${limit} tests (last probe ${sha})` };
      }
      probes.push(sha);
      b.record(sha, verdictOf(sha));
    }
    return { status: b.status(), tests: b.tested, probes };
  } catch (e) {
    return { status: { state: "error", reason: "no-verdict", message: String(e) }, tests: b.tested, probes, failure: `threw: ${String(e)}` };
  }
}

/** An answer in DAG ids, comparable between git and us. */
export type Answer =
  | { kind: "culprit"; id: string }
  | { kind: "ambiguous"; ids: string[] }
  /** `reason` as the result document would give it (git's "merge base is bad" is `merge-base-fails`). */
  | { kind: "error"; reason: Reason; message: string }
  | { kind: "other"; detail: string };

export interface RunOutcome {
  answer: Answer;
  tests: number;
  /** Tested commits (ids), in order. */
  probes: string[];
  /** Probes whose verdict was bad (ids). */
  testedBad: string[];
}

export interface CaseRuns {
  git: RunOutcome;
  /** Our engine with default options (trusts the bad commit, as git does). */
  ours: RunOutcome;
  /** Our engine with `verifyBad: true` (tests the bad commit before blaming it). */
  oursVerifyBad: RunOutcome;
}

export interface CaseResult {
  seed: number;
  scenario: Scenario;
  /** The merge bases git checks (ids), when some good is not an ancestor of bad. */
  mergeBases: string[];
  noSkips: CaseRuns;
  /** Same as noSkips when the skip set is empty. */
  withSkips: CaseRuns;
}

function gitAnswer(outcome: GitBisectOutcome, idOf: (sha: string) => string): Answer {
  switch (outcome.kind) {
    case "culprit":
      return { kind: "culprit", id: idOf(outcome.sha) };
    case "ambiguous":
      return { kind: "ambiguous", ids: outcome.candidates.map(idOf).sort(byId) };
    case "merge-base-bad":
      return { kind: "error", reason: "merge-base-fails", message: `merge base ${idOf(outcome.sha)} is bad` };
    case "unknown":
      return { kind: "other", detail: `exit ${outcome.code}: ${outcome.output.slice(-400)}` };
  }
}

function ourAnswer(result: EngineResult, idOf: (sha: string) => string): Answer {
  if (result.failure) return { kind: "other", detail: result.failure };
  const s = result.status;
  switch (s.state) {
    case "culprit":
      return { kind: "culprit", id: idOf(s.sha) };
    case "ambiguous":
      return { kind: "ambiguous", ids: s.candidates.map(idOf).sort(byId) };
    case "error":
      return { kind: "error", reason: s.reason, message: s.message };
    default:
      return { kind: "other", detail: JSON.stringify(s) };
  }
}

/** Orders c2 before c10. */
export function byId(a: string, b: string): number {
  return Number(a.slice(1)) - Number(b.slice(1)) || a.localeCompare(b);
}

/**
 * Runs one scenario through real git and through our engine, without and with its skip set,
 * in a fresh repository (removed afterwards).
 */
export async function runCase(seed: number, scenario: Scenario): Promise<CaseResult> {
  const dir = await tempDir(`bisect-diff-${seed}`);
  try {
    const shas = await buildRepo(dir, scenario.commits);
    const ids = new Map([...shas].map(([id, sha]) => [sha, id]));
    const sha = (id: string): string => shas.get(id)!;
    const idOf = (s: string): string => ids.get(s) ?? s;
    const bad = sha(scenario.bad);
    const goods = scenario.goods.map(sha);
    const culprit = sha(scenario.culprit);
    const range = await engineRange(dir, bad, goods, scenario.hasNonAncestorGood);
    const badSet = descendantsOf(scenario.commits, [scenario.culprit]);

    const one = async (skipIds: readonly string[]): Promise<CaseRuns> => {
      const g = await runGitBisect(dir, { bad, goods, culprit, skips: skipIds.map(sha) });
      const skipSet = new Set(skipIds);
      const verdict = (s: string): Verdict => {
        const id = idOf(s);
        return skipSet.has(id) ? "skip" : badSet.has(id) ? "bad" : "good";
      };
      const o = runEngine({ ...range, bad, goods }, verdict);
      const v = runEngine({ ...range, bad, goods }, verdict, { verifyBad: true });
      const outcome = (answer: Answer, tests: number, probes: string[]): RunOutcome => ({
        answer,
        tests,
        probes: probes.map(idOf),
        testedBad: [...new Set(probes.filter((p) => verdict(p) === "bad").map(idOf))],
      });
      return {
        git: outcome(gitAnswer(g.outcome, idOf), g.tests, g.probes),
        ours: outcome(ourAnswer(o, idOf), o.tests, o.probes),
        oursVerifyBad: outcome(ourAnswer(v, idOf), v.tests, v.probes),
      };
    };

    const noSkips = await one([]);
    const withSkips = scenario.skips.length > 0 ? await one(scenario.skips) : noSkips;
    return { seed, scenario, mergeBases: (range.mergeBases ?? []).map(idOf), noSkips, withSkips };
  } finally {
    await removeDir(dir);
  }
}

/**
 * Whether a run's answer is right for the scenario under `skips`: the true culprit, or an
 * ambiguous set that contains it and otherwise only commits that could still be the first bad
 * one given that run's evidence: skipped commits, the bad commit, or commits the run tested bad
 * (git lists its current bad commit; the first bad one may be it if the skipped ones are good).
 */
export function isCorrect(run: Pick<RunOutcome, "answer" | "testedBad">, scenario: Scenario, skips: readonly string[]): boolean {
  const answer = run.answer;
  if (answer.kind === "culprit") return answer.id === scenario.culprit;
  if (answer.kind !== "ambiguous") return false;
  const allowed = new Set([...skips, scenario.bad, ...run.testedBad]);
  return answer.ids.includes(scenario.culprit) && answer.ids.every((id) => id === scenario.culprit || allowed.has(id));
}

/** A copy of the scenario whose culprit makes a merge base bad ("fixed between" case), if any. */
export function withBadMergeBase(scenario: Scenario, mergeBases: readonly string[], pick: (n: number) => number): Scenario | undefined {
  if (mergeBases.length === 0) return undefined;
  const mb = mergeBases[pick(mergeBases.length)]!;
  const pool = [...ancestorsOf(scenario.commits, [mb])];
  const culprit = pool[pick(pool.length)]!;
  return { ...scenario, culprit, skips: [] };
}

/** Runs `fn` over `items` with at most `limit` in flight; results keep the input order. */
export async function mapPool<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let nextIndex = 0;
  const worker = async (): Promise<void> => {
    while (nextIndex < items.length) {
      const i = nextIndex++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** A compact, paste-able description of a scenario for bug reports. */
export function describeScenario(scenario: Scenario, skips: readonly string[] = scenario.skips): string {
  const graph = scenario.commits.map((c) => `${c.id}<-${c.parents.join(",") || "root"}`).join(" ");
  return [
    `graph: ${graph}`,
    `bad: ${scenario.bad}  goods: ${scenario.goods.join(",")}  culprit: ${scenario.culprit}`,
    `skips: ${skips.join(",") || "(none)"}`,
  ].join("\n");
}
