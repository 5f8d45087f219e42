import type { Bisection, BisectStatus } from "../bisect/index.js";
import type { Probe, ReasonFor, ResultDocument } from "../result-document.js";

/** Why a run ended in error outside the engine: a probe that could not run, the command, a stuck engine. */
export interface RunFailure {
  reason: ReasonFor<"error">;
  message: string;
}

/** The fields of a result document that only depend on the range and the probes run so far. */
export type ResultBase = Pick<ResultDocument, "schema" | "jobId" | "range" | "probes" | "tested" | "rounds">;

export function resultBase(jobId: string | undefined, range: ResultDocument["range"], probes: readonly Probe[]): ResultBase {
  return {
    schema: 1,
    ...(jobId !== undefined ? { jobId } : {}),
    range,
    probes: [...probes],
    tested: probes.length,
    rounds: probes.reduce((m, p) => Math.max(m, p.round), 0),
  };
}

/**
 * A run stopped before it ended (`cancelled` on request, `stopped` while still running): its
 * probes are valid, and a later attempt passes them as `known` instead of testing them again.
 */
export function interruptedResult(base: ResultBase, reason: ReasonFor<"interrupted">): ResultDocument {
  const tests = `${base.tested} test${base.tested === 1 ? "" : "s"}`;
  const error =
    reason === "cancelled"
      ? `Interrupted after ${tests}: the bisection was stopped before it ended and its worktrees removed.`
      : `The bisection stopped before it ended, after ${tests}.`;
  return { ...base, verdict: "interrupted", reason, candidates: [], error };
}

/**
 * The result of a run that ended: the engine's verdict, or the failure that ended it. A run that
 * ends while the engine is still searching is probe mode's `searching` (the bisection goes on
 * elsewhere, `candidates` says what is left), and a bug anywhere else.
 */
export function endedResult(
  base: ResultBase,
  status: BisectStatus,
  failure: RunFailure | undefined,
  partial: { candidates: () => string[] } | undefined,
): ResultDocument {
  if (failure) return { ...base, verdict: "error", reason: failure.reason, candidates: [], error: failure.message };
  switch (status.state) {
    case "culprit":
      return { ...base, verdict: "culprit", culprit: { sha: status.sha, confidence: status.confidence }, candidates: [status.sha] };
    case "ambiguous":
      return { ...base, verdict: "ambiguous", reason: status.reason, candidates: status.candidates };
    case "no-culprit":
      return { ...base, verdict: "no-culprit", reason: status.reason, candidates: [], error: status.message };
    case "error":
      return { ...base, verdict: "error", reason: status.reason, candidates: [], error: status.message };
    case "searching":
      if (partial) return { ...base, verdict: "searching", candidates: partial.candidates() };
      return { ...base, verdict: "error", reason: "no-verdict", candidates: [], error: "The bisection stopped before reaching a verdict." };
  }
}

/**
 * A flaky search that named a culprit measures its test's flake rate: its tests of commits the
 * culprit is not in, and how many failed anyway (the App learns the next prior from it). A fix
 * search's noise is of another kind: not measured.
 */
export function withFlakeEvidence(result: ResultDocument, bisection: Bisection, mode: { flaky: boolean; findFix: boolean }): ResultDocument {
  if (!mode.flaky || mode.findFix || result.verdict !== "culprit" || !result.culprit) return result;
  const verdicts = result.probes.flatMap((p) => (p.verdict === "error" ? [] : [{ sha: p.sha, verdict: p.verdict }]));
  return { ...result, flakeEvidence: bisection.flakeEvidence(verdicts, result.culprit.sha) };
}
