import { formatDuration } from "../../../action/src/options.js";
import { estimateRunnerUse, estimateSteps, modeText, type JobOptions } from "../job-options.js";
import type { JobRow } from "../store/store.js";
import { codeBlock, codeSpan, link, shortSha, table } from "./markdown.js";

export type StatusPhase = { phase: "queued"; position: number | null; active: number } | { phase: "dispatched"; runUrl: string };

/**
 * The first line of a job's status comment: an HTML comment (shown as nothing) naming the job, so
 * a worker that takes the job over finds the status comment its predecessor posted but died
 * before recording. Only the job's id is in it, an integer: no user text, nothing to escape. On
 * the first line, where no user text is: a command quoting another job's marker never matches.
 * @example statusMarker(123) === "<!-- bisect-bot:job=123 -->"
 */
export function statusMarker(jobId: number): string {
  if (!Number.isSafeInteger(jobId)) throw new Error(`A job id is an integer; got '${jobId}'.`);
  return `<!-- bisect-bot:job=${jobId} -->`;
}

/** Whether `body` is the status comment of job `jobId`: its first line is the job's marker. */
export function isStatusCommentOf(body: string, jobId: number): boolean {
  return body.split(/\r?\n/, 1)[0] === statusMarker(jobId);
}

/**
 * The one comment a job keeps up to date (edited in place): what is being bisected, how big it is,
 * what it will cost, and where it stands. Refs and the command are the user's text (a pull
 * request's branch name too): quoted, in a table that no `|` in them can split. It starts with
 * the job's hidden marker (statusMarker).
 */
export function statusComment(job: JobRow, options: JobOptions, status: StatusPhase): string {
  const goods = job.good_refs.map((ref, i) => `${codeSpan(ref, 80)} (${codeSpan(shortSha(job.good_shas[i] ?? ""))})`).join(", ");
  const bad = `${codeSpan(job.bad_ref, 80)} (${codeSpan(shortSha(job.bad_sha))})`;
  const { tests, rounds } = estimateSteps(options.commits, options.parallel, options.flaky);
  const mode = modeText(options);
  const fanOut = options.runners > 1 ? estimateRunnerUse(options.commits, options.runners, options.flaky, options.stepTimeoutSeconds) : null;
  const estimate = fanOut
    ? `~${fanOut.rounds} rounds · ~${fanOut.jobs} runner jobs`
    : options.parallel > 1
      ? `~${tests} tests in ~${rounds} rounds`
      : `~${tests} tests`;
  const stepLimit = options.stepTimeoutSeconds > 0 ? ` · ${formatDuration(options.stepTimeoutSeconds)} per test` : "";
  const state =
    status.phase === "queued"
      ? `⏳ Waiting for a free slot${status.position !== null ? `: number ${status.position} in this repository's queue` : ""} (${status.active} bisects running here already).`
      : `🏃 ${link("Workflow run", status.runUrl)} dispatched (attempt ${job.attempts} of ${job.max_attempts}).`;
  return [
    statusMarker(job.id),
    `### 🔎 Bisect #${job.id}`,
    "",
    table(
      ["", ""],
      [
        ["Good", goods],
        ["Bad", bad],
        ["Range", `${options.commits.toLocaleString("en-US")} commits${mode ? ` · ${mode}` : ""}`],
        ["Estimate", `${estimate} · time limit ${Math.round(options.timeoutSeconds / 60)} min${stepLimit}`],
      ],
    ),
    "",
    "Test command:",
    "",
    codeBlock(job.command, "sh", 2000),
    "",
    state,
    "",
    `<sub>Requested by ${codeSpan(job.requester)} · \`/bisect status\` · \`/bisect cancel\`</sub>`,
  ].join("\n");
}
