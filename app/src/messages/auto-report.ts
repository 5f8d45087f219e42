/**
 * What an automatic bisect says: the issue it opens (its title and body: which workflow went red,
 * the answer) and the comment on the culprit's pull request that points to it. Only the job's id
 * and SHAs, the run's number and workflow file name, and escaped text reach them.
 */
import type { JobRow } from "../store/store.js";
import { codeSpan, link, shortSha } from "./markdown.js";
import { statusMarker } from "./status-comment.js";

/** The label every issue an automatic bisect opens carries. */
export const REPORT_LABEL = "bisect";

/** GitHub's limit on an issue title. */
const MAX_TITLE = 256;

/**
 * The marker on the first line of a culprit pull request's comment: the job's id only, so a
 * worker that retries the report finds the comment an earlier try posted.
 */
export function culpritMarker(jobId: number): string {
  if (!Number.isSafeInteger(jobId)) throw new Error(`A job id is an integer; got '${jobId}'.`);
  return `<!-- bisect-bot:culprit-of-job=${jobId} -->`;
}

/** The workflow the job's red run belongs to, as text for a title (its file name). */
function workflowOf(job: JobRow): string {
  return job.red_run?.workflow ?? "CI";
}

/** `ci.yml broke on main: 1a2b3c4d5e6f "Parse dates as UTC"`: plain text (titles are not Markdown). */
export function reportTitle(job: JobRow, culpritSha: string, subject: string | null): string {
  // A title is one line: control characters (newlines too) become spaces.
  const clean = [...(subject ?? "")]
    .map((c) => (c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127 ? " " : c))
    .join("")
    .trim();
  const title = `${workflowOf(job)} broke on ${job.options.defaultBranch}: ${shortSha(culpritSha)}${clean === "" ? "" : ` "${clean}"`}`;
  return title.length > MAX_TITLE ? `${title.slice(0, MAX_TITLE - 2)}…"` : title;
}

/** A link to the red run, or its name alone when its URL is not one to follow. */
function redRunLink(job: JobRow): string {
  const run = job.red_run;
  if (run === null) return "a CI run";
  return link(`${codeSpan(run.workflow, 100)} run #${run.number}`, run.url);
}

/**
 * The issue's body: its marker (the job's, so a retried report finds the issue instead of opening
 * another), what went red and what was bisected, then the answer as a comment would give it.
 */
export function reportBody(job: JobRow, answer: string): string {
  const answerLines = answer.split("\n");
  // The answer may start with the job's marker already: one is enough.
  if (answerLines[0] === statusMarker(job.id)) answerLines.shift();
  return [
    statusMarker(job.id),
    `${redRunLink(job)} failed on ${codeSpan(job.options.defaultBranch, 100)} after the run before it passed, so I bisected the commits in between without being asked.`,
    "",
    ...answerLines,
  ].join("\n");
}

/** The culprit's pull request hears where the issue is: one short comment, with the marker. */
export function culpritPullRequestComment(job: JobRow, culpritSha: string, issueNumber: number): string {
  return [
    culpritMarker(job.id),
    `🔎 ${redRunLink(job)} started failing on ${codeSpan(job.options.defaultBranch, 100)}, and bisecting it points at ${codeSpan(shortSha(culpritSha))} from this pull request.`,
    "",
    `Details, the tests and how sure I am: #${issueNumber}.`,
  ].join("\n");
}
