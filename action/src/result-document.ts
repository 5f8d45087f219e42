import { z } from "zod";

/** A full 40-hex (SHA-1) or 64-hex (SHA-256) object id. */
export const shaSchema = z.string().regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, { error: "expected a full lowercase commit sha" });

export const probeVerdictSchema = z.enum(["good", "bad", "skip", "error"]);
export type ProbeVerdict = z.infer<typeof probeVerdictSchema>;

export const probeSchema = z.strictObject({
  sha: shaSchema,
  verdict: probeVerdictSchema,
  /** The test command's exit status; null when it was killed by a signal or timed out. */
  exitCode: z.number().int().nullable(),
  durationMs: z.number().int().nonnegative(),
  /** Planning depth: 1 + the latest round whose verdict was known when this probe was chosen. */
  round: z.number().int().positive(),
});
export type Probe = z.infer<typeof probeSchema>;

/**
 * Why a bisection ended without a culprit: the code parts decide on (never on the wording of
 * `error`, which is for people).
 */
export const reasonSchema = z.enum([
  // no-culprit
  /** The bad commit passed the test: nothing in the range fails it. */
  "bad-commit-passes",
  /** Flaky mode: the evidence says no commit broke it; the failure was a flake. */
  "flake",
  // ambiguous
  /** Only commits that could not be tested (exit 125) are left. */
  "only-skipped-left",
  /** Flaky mode: the test budget ran out, or no test can tell the candidates apart. */
  "out-of-tests",
  // error
  /** The verdicts contradict each other (a test that is flaky or depends on more than the commit). */
  "contradiction",
  /** Exit 127 on a good commit too: the command does not exist where it runs. */
  "command-not-found",
  /** Exit 126 on a good commit too: the command cannot be executed. */
  "command-not-executable",
  /** A merge base of good and bad fails: the bug was fixed on the good side, not broken on the bad. */
  "merge-base-fails",
  /** A probe could not be run at all (a worktree could not be made, the runner failed). */
  "probe-failed",
  /** The engine stopped without a verdict (a bug). */
  "no-verdict",
  // interrupted
  /** Stopped on request (Ctrl-C, a cancelled run). */
  "cancelled",
  /** The run ended before the search did, without saying why (a result file written while running). */
  "stopped",
]);
export type Reason = z.infer<typeof reasonSchema>;

/** The reasons each verdict may give; `culprit` and `searching` give none. */
export const REASONS_BY_VERDICT = {
  "no-culprit": ["bad-commit-passes", "flake"],
  ambiguous: ["only-skipped-left", "out-of-tests"],
  error: ["contradiction", "command-not-found", "command-not-executable", "merge-base-fails", "probe-failed", "no-verdict"],
  interrupted: ["cancelled", "stopped"],
  culprit: [],
  searching: [],
} as const satisfies Record<string, readonly Reason[]>;

/** The reasons `verdict` may give: `ReasonFor<"ambiguous">` is `"only-skipped-left" | "out-of-tests"`. */
export type ReasonFor<V extends keyof typeof REASONS_BY_VERDICT> = (typeof REASONS_BY_VERDICT)[V][number];

/** Whether `reason` may come with `verdict` (a verdict that has reasons needs one). */
export function reasonFits(verdict: keyof typeof REASONS_BY_VERDICT, reason: Reason | undefined): boolean {
  const allowed: readonly Reason[] = REASONS_BY_VERDICT[verdict];
  return reason === undefined ? allowed.length === 0 : allowed.includes(reason);
}

/**
 * The result of one bisection: printed by `bisect-bot run --json`, written by the Action to its
 * `result-file`, read back by the App. Artifacts are hostile, so the App parses with this schema.
 *
 * - `interrupted`: stopped before it ended (`reason` says how); its probes are valid and a later
 *   attempt passes them as `known`.
 * - `searching`: probe mode tested the commits it was given; the bisection goes on elsewhere.
 */
export const resultDocumentSchema = z
  .strictObject({
    schema: z.literal(1),
    jobId: z.string().max(200).optional(),
    verdict: z.enum(["culprit", "ambiguous", "no-culprit", "error", "interrupted", "searching"]),
    reason: reasonSchema.optional(),
    culprit: z.strictObject({ sha: shaSchema, confidence: z.number().min(0).max(1) }).optional(),
    /** The commits that can still hold the first bad commit: the culprit alone, or the ambiguous set. */
    candidates: z.array(shaSchema).max(100_000),
    range: z.strictObject({
      good: z.array(shaSchema).min(1).max(1000),
      bad: shaSchema,
      size: z.number().int().nonnegative(),
    }),
    probes: z.array(probeSchema).max(100_000),
    /** Test runs, skips and errors included. */
    tested: z.number().int().nonnegative(),
    rounds: z.number().int().nonnegative(),
    /**
     * `--confirm n`: after the search, the culprit and each of its parents (the first only with
     * first-parent) re-run n times. `culpritFailed`: the culprit's runs that showed the new state
     * (failed; passed, finding a fix); `parentPassed`: the fewest runs of one parent that showed
     * the old state. Confirmed only when both are `runs`.
     */
    /**
     * Bisect mode without --first-parent, with a culprit: true when it is off the bad commit's
     * first-parent line (it came in with a merged branch: --first-parent was probably meant).
     */
    offFirstParentLine: z.boolean().optional(),
    /**
     * Flaky mode, with a culprit: what the run measured of the test's flake rate, its tests of
     * commits the culprit is not in and how many of them failed (the App learns the rate from it).
     */
    flakeEvidence: z
      .strictObject({ cleanTests: z.number().int().nonnegative().max(100_000), falseFailures: z.number().int().nonnegative().max(100_000) })
      .optional(),
    confirmation: z
      .strictObject({
        runs: z.number().int().min(1).max(1000),
        culpritFailed: z.number().int().nonnegative(),
        parentPassed: z.number().int().nonnegative(),
        verdict: z.enum(["confirmed", "not-reproducible"]),
      })
      .optional(),
    /** For people: what happened, in a sentence. Parts decide on `verdict` and `reason`. */
    error: z.string().max(10_000).optional(),
  })
  .refine((doc) => reasonFits(doc.verdict, doc.reason), {
    error: "the reason does not fit the verdict (no-culprit, ambiguous, error and interrupted each need one of their own; culprit and searching have none)",
    path: ["reason"],
  })
  .refine((doc) => (doc.verdict === "culprit") === (doc.culprit !== undefined), {
    error: "a culprit verdict names its culprit, and only it does",
    path: ["culprit"],
  });
export type ResultDocument = z.infer<typeof resultDocumentSchema>;
export type Verdict = ResultDocument["verdict"];
