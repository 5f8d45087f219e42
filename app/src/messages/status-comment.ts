import { estimateSteps, type JobOptions } from "../job-options.js";
import type { JobRow } from "../store/store.js";
import { codeBlock, codeSpan, shortSha, truncate } from "./markdown.js";

export type StatusPhase =
  | { phase: "queued"; position: number | null; active: number }
  | { phase: "dispatched"; runUrl: string };

/**
 * The one comment a job keeps up to date (edited in place): what is being bisected, how big it is,
 * what it will cost, and where it stands. Refs and the command are the user's text: quoted.
 */
export function statusComment(job: JobRow, options: JobOptions, status: StatusPhase): string {
  const goods = job.good_refs.map((ref, i) => `${codeSpan(truncate(ref, 80))} (${codeSpan(shortSha(job.good_shas[i] ?? ""))})`).join(", ");
  const bad = `${codeSpan(truncate(job.bad_ref, 80))} (${codeSpan(shortSha(job.bad_sha))})`;
  const { tests, rounds } = estimateSteps(options.commits, options.parallel, options.flaky);
  const mode = [options.flaky ? "flaky-aware" : null, options.firstParent ? "first parent only" : null, options.parallel > 1 ? `${options.parallel} commits at a time` : null]
    .filter(Boolean)
    .join(", ");
  const estimate = options.parallel > 1 ? `~${tests} tests in ~${rounds} rounds` : `~${tests} tests`;
  const state =
    status.phase === "queued"
      ? `⏳ Waiting for a free slot${status.position !== null ? `: number ${status.position} in this repository's queue` : ""} (${status.active} bisects running here already).`
      : `🏃 [Workflow run](${status.runUrl}) dispatched (attempt ${job.attempts} of ${job.max_attempts}).`;
  return [
    `### 🔎 Bisect #${job.id}`,
    "",
    "| | |",
    "| --- | --- |",
    `| Good | ${goods} |`,
    `| Bad | ${bad} |`,
    `| Range | ${options.commits.toLocaleString("en-US")} commits${mode ? ` · ${mode}` : ""} |`,
    `| Estimate | ${estimate} · time limit ${Math.round(options.timeoutSeconds / 60)} min |`,
    "",
    "Test command:",
    "",
    codeBlock(truncate(job.command, 2000), "sh"),
    "",
    state,
    "",
    `<sub>Requested by ${codeSpan(job.requester)} · \`/bisect status\` · \`/bisect cancel\`</sub>`,
  ].join("\n");
}
