/**
 * The Action against the CLI: the same repository, range and test, run as a runner runs the
 * Action (INPUT_*, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY); the bundle's start-up; its size.
 * Run alone: npx tsx bench/action-overhead.ts [runs]
 */
import { spawn } from "node:child_process";
import { readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildRepo, git, gitEnv, removeDir, tempDir } from "../test/support/dag-repo.js";
import { mainlineWithMerges } from "./wall-time.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(root, "bin/bisect-bot.js");
const ACTION = join(root, "action/dist/index.js");

function timed(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ ms: number; code: number | null }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn("node", args, { cwd, env, stdio: "ignore" });
    child.on("error", reject);
    child.on("close", (code) => resolve({ ms: performance.now() - started, code }));
  });
}

export interface OverheadRow {
  [column: string]: string | number;
}

export async function runActionOverhead(runs = 5): Promise<OverheadRow[]> {
  const dir = await tempDir("bench-action");
  try {
    const commits = mainlineWithMerges(2000, 11);
    const shas = await buildRepo(dir, commits);
    await git(dir, ["checkout", "--quiet", "--force", "main"]);
    const good = shas.get("c0")!;
    const bad = shas.get(commits.at(-1)!.id)!;
    const culprit = shas.get("c1234")!;
    const test = `sleep 0.2; if git merge-base --is-ancestor ${culprit} HEAD; then exit 1; fi; exit 0`;
    const runnerFiles = async (name: string) => {
      const file = join(dir, "..", `${name}-${Math.random().toString(36).slice(2)}`);
      await writeFile(file, "");
      return file;
    };
    const actionEnv = async (inputs: Record<string, string>) =>
      gitEnv({
        ...Object.fromEntries(Object.entries(inputs).map(([k, v]) => [`INPUT_${k.toUpperCase()}`, v])),
        GITHUB_WORKSPACE: dir,
        GITHUB_OUTPUT: await runnerFiles("output"),
        GITHUB_STEP_SUMMARY: await runnerFiles("summary"),
        GITHUB_REPOSITORY: "octo-org/widget",
        RUNNER_TEMP: join(dir, ".."),
      });

    let cliMs = 0;
    let actionMs = 0;
    for (let r = 0; r < runs; r++) {
      const cli = await timed([CLI, "run", "--good", good, "--bad", bad, "--json", "--", "bash", "-c", test], dir, gitEnv());
      const action = await timed([ACTION], dir, await actionEnv({ good, bad, command: test }));
      if (cli.code !== 0 || action.code !== 0) throw new Error(`runs failed: cli ${cli.code}, action ${action.code}`);
      cliMs += cli.ms;
      actionMs += action.ms;
    }

    // Start-up: node, the bundle and input parsing, ending at the first input error.
    let startMs = 0;
    for (let r = 0; r < 10; r++) startMs += (await timed([ACTION], dir, await actionEnv({ good, bad, command: "true", parallel: "0" }))).ms;
    const size = async (f: string) => (await stat(join(root, "action/dist", f))).size;
    const chunks = (await readdir(join(root, "action/dist"))).filter((f) => f.startsWith("shared-"));
    let bundleBytes = await size("index.js");
    for (const c of chunks) bundleBytes += await size(c);

    return [
      { measure: "bisect, 2,000 commits, 0.2 s test: CLI (mean of runs)", value: `${(cliMs / runs / 1000).toFixed(2)} s` },
      { measure: "bisect, same range: Action (mean of runs)", value: `${(actionMs / runs / 1000).toFixed(2)} s` },
      { measure: "Action overhead against the CLI", value: `${(((actionMs - cliMs) / cliMs) * 100).toFixed(1)}%` },
      { measure: "Action start-up (node + bundle + inputs, to the first input error)", value: `${(startMs / 10).toFixed(0)} ms` },
      { measure: "Action bundle (index.js + shared chunk)", value: `${(bundleBytes / 1024).toFixed(0)} KiB` },
    ];
  } finally {
    await removeDir(dir);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = await runActionOverhead(Number(process.argv[2] ?? 5));
  console.log("| measure | value |\n|---|---|");
  for (const r of rows) console.log(`| ${r.measure} | ${r.value} |`);
}
