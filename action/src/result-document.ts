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
 * The result of one bisection: printed by `bisect-bot run --json`, written by the Action to its
 * `result-file`, read back by the App. Artifacts are hostile, so the App parses with this schema.
 */
export const resultDocumentSchema = z.strictObject({
  schema: z.literal(1),
  jobId: z.string().max(200).optional(),
  verdict: z.enum(["culprit", "ambiguous", "no-culprit", "error"]),
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
  error: z.string().max(10_000).optional(),
});
export type ResultDocument = z.infer<typeof resultDocumentSchema>;
