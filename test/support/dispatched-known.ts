import { z } from "zod";

/** The part of a dispatch's `options` input (JSON the App writes for the workflow) the tests read. */
const dispatchedOptionsSchema = z.object({ known: z.array(z.strictObject({ sha: z.string(), verdict: z.string() })) });

/** The verdicts of earlier attempts that a dispatch passed on to the Action, from its `options` input. */
export function dispatchedKnown(options: string): { sha: string; verdict: string }[] {
  return dispatchedOptionsSchema.parse(JSON.parse(options)).known;
}
