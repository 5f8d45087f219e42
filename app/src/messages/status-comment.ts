import { formatDuration } from "../../../action/src/options.js";
import { estimateRunnerUse, estimateSteps, modeText, type JobOptions } from "../job-options.js";
import type { JobRow } from "../store/store.js";
import { codeBlock, codeSpan, link, shortSha, table } from "./markdown.js";

/** Where a fan-out stands as a round starts (see roundLines). */
export interface RoundProgress {
  round: number;
  /** Rounds it will take in all, about (this one and those before included). */
  rounds: number;
  /** Commits this round tests, one runner each. */
  testing: number;
  /** Commits that can still hold the culprit. */
  left: number;
  /** The range, oldest first, one cell per commit or group of commits (see rangeStrip). */
  strip: string;
  /** When it should end, about; null before a round has ended (nothing to go by yet). */
  eta: Date | null;
}

export type StatusPhase =
  | { phase: "queued"; position: number | null; active: number }
  | { phase: "dispatched"; runUrl: string }
  | { phase: "round"; runUrl: string; progress: RoundProgress };

/** What one commit of the range is, for the progress strip. */
export type StripState = "testing" | "bad" | "good" | "skip" | "candidate" | "ruled-out";

const STRIP_CELLS = 48;
/** When a cell holds several commits, the first of these it holds is shown. */
const STRIP_ORDER: readonly StripState[] = ["testing", "bad", "good", "skip", "candidate", "ruled-out"];
/** Cells show what the test did (🟩 passed, 🟥 failed), whatever is looked for. */
const STRIP_MARK: Record<StripState, string> = { testing: "🔵", bad: "🟥", good: "🟩", skip: "🟨", candidate: "⬜", "ruled-out": "⬛" };
/** The strip's key; `findFix` names what is looked for. */
export function stripLegend(findFix: boolean): string {
  return `🟩 passed · 🟥 failed · 🟨 skipped · 🔵 testing now · ⬜ ${findFix ? "may be the fix" : "may hold the culprit"} · ⬛ ruled out`;
}

/**
 * The range as a strip of at most 48 cells, oldest commit first: each cell one commit, or an
 * equal share of them on a long range, showing the most telling state among them.
 */
export function rangeStrip(states: readonly StripState[]): string {
  const cells = Math.min(STRIP_CELLS, states.length);
  const out: string[] = [];
  for (let c = 0; c < cells; c++) {
    const part = states.slice(Math.floor((c * states.length) / cells), Math.floor(((c + 1) * states.length) / cells));
    out.push(STRIP_MARK[STRIP_ORDER.find((s) => part.includes(s)) ?? "ruled-out"]);
  }
  return out.join("");
}

/** `14:32 UTC`, and the date too when it is not today. */
function clockTime(at: Date, now: Date): string {
  const iso = at.toISOString();
  const time = `${iso.slice(11, 16)} UTC`;
  return iso.slice(0, 10) === now.toISOString().slice(0, 10) ? time : `${iso.slice(0, 10)} ${time}`;
}

/** The fan-out's state lines: the round, what is left, the strip, the estimated end. */
function roundLines(job: JobRow, runUrl: string, p: RoundProgress, now: Date, findFix: boolean): string[] {
  const about = Math.max(p.round, p.rounds);
  const minutes = p.eta === null ? null : Math.max(1, Math.round((p.eta.getTime() - now.getTime()) / 60_000));
  const eta =
    p.eta === null || minutes === null ? "an estimate of the end comes after the first round" : `done at about ${clockTime(p.eta, now)} (in ~${minutes} min)`;
  const retry = job.attempts > 1 ? ` (attempt ${job.attempts} of ${job.max_attempts})` : "";
  return [
    `🏃 Round ${p.round} of about ${about}: ${link("workflow run", runUrl)} testing ${p.testing.toLocaleString("en-US")} commit${p.testing === 1 ? "" : "s"} on ${p.testing === 1 ? "one runner" : `${p.testing.toLocaleString("en-US")} runners`}${retry}. ${p.left.toLocaleString("en-US")} commit${p.left === 1 ? "" : "s"} ${findFix ? "may be the fix" : "may hold the culprit"}; ${eta}.`,
    "",
    p.strip,
    `<sub>${stripLegend(findFix)} · oldest first</sub>`,
  ];
}

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
export function statusComment(job: JobRow, options: JobOptions, status: StatusPhase, now = new Date()): string {
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
      : status.phase === "round"
        ? roundLines(job, status.runUrl, status.progress, now, options.findFix).join("\n")
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
