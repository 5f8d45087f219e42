import * as core from "@actions/core";
import { renameSync, writeFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readInputs, type ActionSettings } from "./inputs.js";
import { resolveRange, runBisect, runnerOptions, type RunnerEvent } from "../runner/bisect-runner.js";
import { interruptedResult, resultBase } from "../runner/run-result.js";
import { ensureCommits, ensureHistory } from "../runner/ensure-history.js";
import { GitCli, type CommitInfo } from "../runner/git.js";
import type { Probe, ResultDocument } from "../result-document.js";
import { renderSummary } from "./step-summary.js";
import { errorMessage } from "../error-message.js";

const short = (sha: string) => sha.slice(0, 10);

/**
 * The Action: bisect `good..bad` (or test the given commits, in probe mode) in the runner's
 * checkout, write the result document, the outputs and the step summary. The step fails only on
 * bad input, an infrastructure error or a cancelled run: a culprit is a finding, not a failure.
 * When GitHub cancels the run (SIGINT, then SIGTERM), the tests are stopped and the result says
 * `interrupted` (`cancelled`) with every verdict so far, so a retry resumes from them.
 */
export async function run(): Promise<void> {
  const cancel = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!cancel.signal.aborted) core.info(`Received ${signal}: stopping the tests and saving the verdicts so far.`);
    cancel.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const settings = readInputs((name) => core.getInput(name));
    const file = join(process.env.RUNNER_TEMP ?? tmpdir(), `bisect-result-${settings.jobId ?? "local"}.json`);
    const result = await bisect(settings, file, cancel.signal);
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    core.setOutput("verdict", result.verdict);
    core.setOutput("culprit", result.culprit?.sha ?? "");
    core.setOutput("tested", String(result.tested));
    core.setOutput("result-file", file);
    if (result.verdict === "error" || result.verdict === "interrupted") core.setFailed(result.error ?? "The bisection failed.");
  } catch (error) {
    core.setFailed(errorMessage(error));
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/**
 * While the bisect runs, the result file holds what is known so far, as an `interrupted` result
 * (reason `stopped`): if the run is cancelled or times out before the Action can say so, the
 * workflow still uploads it (`if: always()`) and the App's next attempt resumes from these
 * verdicts instead of starting over. Written whole and renamed into place, so the file is never
 * half a document.
 */
function writeProgress(file: string, jobId: string | undefined, range: ResultDocument["range"], probes: readonly Probe[]): void {
  const progress = interruptedResult(resultBase(jobId, range, probes), "stopped");
  writeFileSync(`${file}.partial`, `${JSON.stringify(progress, null, 2)}\n`);
  renameSync(`${file}.partial`, file);
}

/**
 * The range and, in probe mode, the commits to test, as full shas in `git`.
 *
 * Bisect mode fetches the range's history (a shallow clone is deepened) and resolves the refs.
 * Probe mode reads no history at all: a fan-out runner's clone holds only the commit it tests
 * (actions/checkout with `ref: <sha>`, `fetch-depth: 1`, no credentials kept). The commits to test
 * must be in it (one that is not is fetched by sha, just that commit), and `good` and `bad` (full
 * shas, checked in readInputs) are taken as given: they only name the range in the result.
 */
async function prepare(git: GitCli, settings: ActionSettings) {
  const log = (line: string) => core.info(line);
  if (settings.mode === "probe") {
    await ensureCommits(git, settings.commits, log);
    const commits = await Promise.all(settings.commits.map((c) => git.resolveCommit(c)));
    return { git, good: settings.good, bad: settings.bad, commits };
  }
  await ensureHistory(git, { good: settings.good, bad: settings.bad }, log);
  return { ...(await resolveRange(git, settings)), commits: undefined };
}

async function bisect(settings: ActionSettings, resultFile: string, signal: AbortSignal): Promise<ResultDocument> {
  const git = await GitCli.open(process.env.GITHUB_WORKSPACE ?? process.cwd());
  const { commits, ...resolved } = await prepare(git, settings);
  const { good, bad } = resolved;

  // Each probe's output is held and printed in one log group when it ends, so parallel
  // probes do not interleave.
  const output = new Map<string, Buffer[]>();
  const done: Probe[] = [];
  let range: ResultDocument["range"] = { good, bad, size: 0 };
  const onEvent = (event: RunnerEvent) => {
    switch (event.type) {
      case "start":
        range = { good, bad, size: event.rangeSize };
        core.info(
          commits
            ? `Testing ${event.estimatedTests} commit${event.estimatedTests === 1 ? "" : "s"} of ${settings.good.map(short).join(", ")}..${short(settings.bad)} (probe mode)` +
                `${settings.parallel > 1 && event.estimatedTests > 1 ? `, ${Math.min(settings.parallel, event.estimatedTests)} at a time` : ""}.`
            : `Bisecting ${event.rangeSize} commits (${settings.good.join(", ")}..${settings.bad}), about ${event.estimatedTests} tests` +
                `${settings.parallel > 1 ? `, ${settings.parallel} at a time` : ""}.`,
        );
        break;
      case "probe-end": {
        const p = event.probe;
        done.push(p);
        try {
          writeProgress(resultFile, settings.jobId, range, done);
        } catch (error) {
          core.warning(`Could not save progress to ${resultFile}: ${errorMessage(error)}`);
        }
        core.startGroup(
          `${short(p.sha)} ${p.verdict} (exit ${p.exitCode ?? "–"}, ${(p.durationMs / 1000).toFixed(1)} s)${event.note ? ` — ${event.note}` : ""}`,
        );
        for (const chunk of output.get(p.sha) ?? []) process.stdout.write(chunk);
        core.endGroup();
        output.delete(p.sha);
        break;
      }
      case "probe-stopped":
        core.info(`${short(event.sha)} stopped: its verdict is no longer needed`);
        output.delete(event.sha);
        break;
      case "warning":
        core.warning(event.message);
        break;
      case "probe-start":
        output.set(event.sha, []);
        break;
    }
  };

  const result = await runBisect({
    ...resolved,
    command: ["bash", "-c", settings.command],
    ...runnerOptions(settings),
    known: settings.known,
    ...(settings.flakeHistory ? { flakeHistory: settings.flakeHistory } : {}),
    ...(settings.jobId ? { jobId: settings.jobId } : {}),
    ...(commits ? { probeOnly: commits } : {}),
    signal,
    onEvent,
    onOutput: (sha, chunk) => output.get(sha)?.push(chunk),
  });

  await writeSummary(result, git, settings.findFix);
  return result;
}

async function writeSummary(result: ResultDocument, git: GitCli, findFix: boolean): Promise<void> {
  const shas = new Set([...result.probes.map((p) => p.sha), ...result.candidates, ...(result.culprit ? [result.culprit.sha] : [])]);
  const commits = new Map<string, CommitInfo>((await git.describeMany([...shas])).map((c) => [c.sha, c]));
  const server = process.env.GITHUB_SERVER_URL ?? "https://github.com";
  const repository = process.env.GITHUB_REPOSITORY;
  const markdown = renderSummary(result, commits, repository ? { commitUrl: (sha) => `${server}/${repository}/commit/${sha}` } : {}, findFix);
  if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(markdown).write();
  if (result.culprit) {
    const c = commits.get(result.culprit.sha)!;
    core.notice(`First bad commit: ${c.sha} ${c.subject} (${c.authorName})`);
  }
}
