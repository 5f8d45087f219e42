import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { onlyNonCode } from "../non-code-paths.js";
import { resolveRange, runBisect, runnerOptions, type RunnerEvent } from "../runner/bisect-runner.js";
import { parseCli, USAGE, UsageError, type CliSettings } from "./settings.js";
import { GitCli } from "../runner/git.js";
import type { ResultDocument, Verdict } from "../result-document.js";
import { errorMessage } from "../error-message.js";

/** Exit statuses of `bisect-bot run` (DESIGN.md); 130 is the shell's for Ctrl-C. */
export const EXIT = { culprit: 0, error: 1, ambiguous: 2, "no-culprit": 3, interrupted: 130 } satisfies Record<Exclude<Verdict, "searching">, number>;

/** The exit status of a result: the CLI has no probe mode, so `searching` would be a bug (an error). */
function exitStatus(verdict: Verdict): number {
  return verdict === "searching" ? EXIT.error : EXIT[verdict];
}

interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  signal?: AbortSignal;
}

const packageSchema = z.object({ name: z.literal("bisect-bot"), version: z.string() });

/**
 * The version in the package's package.json: the nearest one above this file that is
 * bisect-bot's (the sources sit deeper than the bundle, so the depth is not fixed).
 */
async function packageVersion(): Promise<string> {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const parsed = packageSchema.safeParse(await readFile(join(dir, "package.json"), "utf8").then(JSON.parse, () => null));
    if (parsed.success) return parsed.data.version;
    if (dirname(dir) === dir) return "unknown";
  }
}

const short = (sha: string) => sha.slice(0, 10);
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)}s`;

/**
 * `bisect-bot run`: resolves the refs, bisects in worktrees, prints progress on stderr and the
 * summary (or with --json the result document on stdout). Returns the exit status.
 */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  let settings: CliSettings | "help" | "version";
  try {
    settings = parseCli(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`bisect-bot: ${error.message}\n`);
      return EXIT.error;
    }
    throw error;
  }
  if (settings === "help") {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  if (settings === "version") {
    io.stdout(`${await packageVersion()}\n`);
    return 0;
  }

  try {
    const result = await bisect(settings, io);
    if (settings.json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
    return exitStatus(result.verdict);
  } catch (error) {
    io.stderr(`bisect-bot: ${errorMessage(error)}\n`);
    return io.signal?.aborted ? EXIT.interrupted : EXIT.error;
  }
}

async function bisect(settings: CliSettings, io: Io): Promise<ResultDocument> {
  const git = await GitCli.open(resolve(settings.dir));
  const range = await resolveRange(git, settings);

  const log = io.stderr;
  const started = performance.now();
  let tested = 0;
  const onEvent = (event: RunnerEvent) => {
    switch (event.type) {
      case "start": {
        const at = settings.parallel > 1 ? `, ${settings.parallel} at a time` : "";
        log(
          `Bisecting ${event.rangeSize} commit${event.rangeSize === 1 ? "" : "s"} between ${settings.good.join(", ")} and ${settings.bad}` +
            `${settings.findFix ? ", looking for the fix" : ""}${settings.flaky ? " (flaky mode)" : ""}: about ${event.estimatedTests} test${event.estimatedTests === 1 ? "" : "s"}${at}.\n`,
        );
        if (event.mergeBases.length > 0) {
          log(
            `Some good commits are not ancestors of ${settings.bad}: testing the merge base${event.mergeBases.length > 1 ? "s" : ""} ${event.mergeBases.map(short).join(", ")} first.\n`,
          );
        }
        break;
      }
      case "probe-start":
        if (settings.verbose) log(`[worker ${event.worker}] testing ${short(event.sha)} (${event.purpose})\n`);
        break;
      case "probe-end": {
        tested++;
        const s = event.status;
        const left = s.state === "searching" ? `${s.candidates} left, ~${s.estimatedTests} to go` : "done";
        const note = event.note ? `  (${event.note})` : "";
        log(
          `  ${String(tested).padStart(3)}. ${short(event.sha)}  ${event.probe.verdict.padEnd(5)} ${seconds(event.probe.durationMs).padStart(7)}  [${left}]${note}\n`,
        );
        break;
      }
      case "probe-stopped":
        log(`       ${short(event.sha)}  stopped: its verdict is no longer needed\n`);
        break;
      case "warning":
        log(`warning: ${event.message}\n`);
        break;
    }
  };

  const result = await runBisect({
    ...range,
    command: settings.command,
    ...runnerOptions(settings),
    onEvent,
    ...(settings.verbose ? { onOutput: (_sha: string, chunk: Buffer) => log(chunk.toString()) } : {}),
    ...(io.signal ? { signal: io.signal } : {}),
  });
  await printSummary(result, git, settings, log, performance.now() - started);
  return result;
}

/** Whether the culprit is on the first-parent line of the bad commit (git rev-list --first-parent bad --not goods). */
export async function onFirstParentLine(git: GitCli, result: ResultDocument): Promise<boolean> {
  if (!result.culprit) return true;
  const line = await git.rangeCommits(result.range.bad, result.range.good, true);
  return line.some((c) => c.sha === result.culprit!.sha);
}

/** `Confirmed: …` or `Not reproducible: …`, with the counts. */
export function confirmationText(c: NonNullable<ResultDocument["confirmation"]>, findFix: boolean): string {
  const [culpritDid, parentDid] = findFix ? ["passed", "failed"] : ["failed", "passed"];
  const counts = `the ${findFix ? "fix" : "culprit"} ${culpritDid} ${c.culpritFailed} of ${c.runs} re-runs and its parent${c.parentPassed === c.runs ? "" : "s"} ${parentDid} ${c.parentPassed} of ${c.runs}`;
  return c.verdict === "confirmed" ? `Confirmed: ${counts}.` : `Not reproducible: ${counts}. Treat the answer with care: the test may be flaky (--flaky).`;
}

/**
 * Why a search for the fix found none, in the fix's terms: the engine's own message speaks of a
 * "bad commit that passes" where, finding a fix, the newest commit still fails.
 */
function noFixReason(result: ResultDocument, bad: string): string {
  if (result.reason === "flake") return "the passes look like flakes: no commit in the range is likely to have fixed the test.";
  return `${bad} still fails the test, so no commit in the range fixed it.`;
}

/** The outcome for people, on stderr: the culprit with its author, the candidates left, or what went wrong. */
async function printSummary(result: ResultDocument, git: GitCli, settings: CliSettings, log: (t: string) => void, elapsedMs: number) {
  const stats = `Tested ${result.tested} time${result.tested === 1 ? "" : "s"} in ${result.rounds} round${result.rounds === 1 ? "" : "s"} (${result.range.size} commits in range), ${seconds(elapsedMs)}.`;
  log("\n");
  switch (result.verdict) {
    case "culprit": {
      const c = await git.describe(result.culprit!.sha);
      const confidence = settings.flaky ? `confidence ${result.culprit!.confidence.toFixed(3)}` : "confidence 1 (deterministic test)";
      log(
        `${settings.findFix ? "First fixed commit" : "First bad commit"}: ${c.sha}\n    ${c.subject}\n    Author: ${c.authorName} <${c.authorEmail}>\n    Date:   ${c.date}\n`,
      );
      log(`${stats} ${confidence[0]!.toUpperCase()}${confidence.slice(1)}.\n`);
      if (result.confirmation) log(`${confirmationText(result.confirmation, settings.findFix)}\n`);
      const kinds = onlyNonCode(await git.changedPaths(c.sha));
      if (kinds !== null) {
        log(
          `Note: ${short(c.sha)} changes only ${kinds.join(" and ")}, not code the test runs: ` +
            (kinds.includes("tests") ? "a new or changed test may be exposing an older problem.\n" : "the test may be flaky (--flaky, --confirm 3).\n"),
        );
      }
      if (!settings.firstParent && !(await onFirstParentLine(git, result))) {
        log(
          `Note: ${short(c.sha)} is a commit of a branch merged into ${settings.bad}, not on its first-parent line. ` +
            `If you meant to bisect that line itself (each merge as one commit), run again with --first-parent: the answer is then the merge that brought this branch in.\n`,
        );
      }
      break;
    }
    case "ambiguous": {
      const outOfTests = result.reason === "out-of-tests";
      log(
        outOfTests
          ? `The tests ran out before one commit reached the confidence. The likeliest first ${settings.findFix ? "fixed" : "bad"} commits:\n`
          : `Only skipped commits are left to test. The first ${settings.findFix ? "fixed" : "bad"} commit could be any of:\n`,
      );
      for (const c of await git.describeMany(result.candidates)) log(`    ${c.sha}  ${c.subject}\n`);
      log(
        outOfTests
          ? `${stats} Run again with a lower --confidence, or test those commits by hand.\n`
          : `${stats} Narrow it down by making those commits testable, or by testing them by hand.\n`,
      );
      break;
    }
    case "no-culprit":
      log(
        settings.findFix
          ? `No fix: ${noFixReason(result, settings.bad)}\n${stats}\n`
          : `No culprit: ${result.error ?? "no commit in the range fails the test."}\n${stats}\n`,
      );
      break;
    case "error":
      log(`bisect-bot: ${result.error}\n${stats}\n`);
      break;
    case "interrupted":
    case "searching":
      log(`bisect-bot: ${result.error ?? "The bisection stopped before it ended."}\n${stats}\n`);
      break;
  }
}
