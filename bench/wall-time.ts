/**
 * Wall time of a real bisection: a 2,000-commit repository with merges and a 0.5 s test,
 * `git bisect run` against `bisect-bot run` with one worker and with --parallel 4.
 * Run alone: npx tsx bench/wall-time.ts [culprits]
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { buildRepo, type DagCommit, git, removeDir, tempDir } from "../test/support/dag-repo.js";
import { mulberry32 } from "../test/support/history.js";

const CLI = fileURLToPath(new URL("../bin/bisect-bot.js", import.meta.url));

/** A mainline of `size` commits where every few commits a 1–3 commit branch is merged in. */
export function mainlineWithMerges(size: number, seed: number): DagCommit[] {
  const random = mulberry32(seed);
  const commits: DagCommit[] = [{ id: "c0", parents: [] }];
  let tip = "c0";
  while (commits.length < size) {
    if (random() < 0.2 && commits.length + 4 < size) {
      let side = tip;
      const length = 1 + Math.floor(random() * 3);
      for (let i = 0; i < length; i++) {
        const id = `c${commits.length}`;
        commits.push({ id, parents: [side] });
        side = id;
      }
      const id = `c${commits.length}`;
      commits.push({ id, parents: [tip, side] });
      tip = id;
    } else {
      const id = `c${commits.length}`;
      commits.push({ id, parents: [tip] });
      tip = id;
    }
  }
  return commits;
}

function timed(cmd: string, args: string[], cwd: string): Promise<{ ms: number; code: number; stdout: string; stderr: string }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ ms: performance.now() - started, code: code ?? -1, stdout, stderr }));
  });
}

export interface WallTimeRow {
  tool: string;
  meanSeconds: number;
  meanTests: number;
  meanRounds: number;
  speedup: number;
}

/** Bisects `runs` random culprits with each tool; returns mean wall time per bisection. */
export async function runWallTime(runs = 5, seed = 7): Promise<WallTimeRow[]> {
  const dir = await tempDir("bench-wall");
  try {
    const commits = mainlineWithMerges(2000, seed);
    const shas = await buildRepo(dir, commits);
    await git(dir, ["checkout", "--quiet", "--force", "main"]);
    const good = shas.get("c0")!;
    const bad = shas.get(commits[commits.length - 1]!.id)!;
    const random = mulberry32(seed + 1);
    const totals = { git: { ms: 0, tests: 0, rounds: 0 }, one: { ms: 0, tests: 0, rounds: 0 }, four: { ms: 0, tests: 0, rounds: 0 } };
    for (let r = 0; r < runs; r++) {
      const culprit = shas.get(commits[1 + Math.floor(random() * (commits.length - 1))]!.id)!;
      const test = `sleep 0.5; if git merge-base --is-ancestor ${culprit} HEAD; then exit 1; fi; exit 0`;

      await git(dir, ["bisect", "reset"], { allowFailure: true });
      const started = performance.now();
      await git(dir, ["bisect", "start", bad, good]);
      const run = await git(dir, ["bisect", "run", "sh", "-c", test]);
      totals.git.ms += performance.now() - started;
      const log = await git(dir, ["bisect", "log"]);
      const steps = log.stdout.split("\n").filter((l) => /^git bisect (good|bad|skip)/.test(l)).length;
      totals.git.tests += steps;
      totals.git.rounds += steps;
      if (!run.stdout.includes(`${culprit} is the first bad commit`)) throw new Error(`git bisect missed ${culprit}`);
      await git(dir, ["bisect", "reset"]);

      for (const [key, parallel] of [
        ["one", 1],
        ["four", 4],
      ] as const) {
        const out = await timed("node", [CLI, "run", "--good", good, "--bad", bad, "--parallel", String(parallel), "--json", "--", "sh", "-c", test], dir);
        const doc = JSON.parse(out.stdout) as { culprit?: { sha: string }; tested: number; rounds: number };
        if (doc.culprit?.sha !== culprit) throw new Error(`bisect-bot --parallel ${parallel} missed ${culprit}:\n${out.stderr}`);
        totals[key].ms += out.ms;
        totals[key].tests += doc.tested;
        totals[key].rounds += doc.rounds;
      }
    }
    const row = (tool: string, t: { ms: number; tests: number; rounds: number }): WallTimeRow => ({
      tool,
      meanSeconds: t.ms / runs / 1000,
      meanTests: t.tests / runs,
      meanRounds: t.rounds / runs,
      speedup: totals.git.ms / t.ms,
    });
    return [row("git bisect run", totals.git), row("bisect-bot run", totals.one), row("bisect-bot run --parallel 4", totals.four)];
  } finally {
    await removeDir(dir);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = await runWallTime(Number(process.argv[2] ?? 5));
  console.log("| tool | mean wall time (s) | tests | rounds | vs git bisect run |\n|---|---|---|---|---|");
  for (const r of rows)
    console.log(`| ${r.tool} | ${r.meanSeconds.toFixed(2)} | ${r.meanTests.toFixed(1)} | ${r.meanRounds.toFixed(1)} | ${r.speedup.toFixed(2)}× |`);
}
