/** What a `/bisect` comment asks for, as types and as zod schemas for when it is stored and read back. */
import { z } from "zod";
import { MAX_TIMEOUT_SECONDS, MIN_TIMEOUT_SECONDS } from "./duration.js";
import { isValidRefExpression } from "./ref-expression.js";
import { MAX_COMMAND_LENGTH } from "./test-command.js";

export const MAX_PARALLEL = 16;
/** Each good ref is resolved with its own API call: a few are useful, hundreds are not. */
export const MAX_GOOD_REFS = 8;

export interface BisectOptions {
  firstParent?: boolean;
  flaky?: boolean;
  parallel?: number;
  timeoutSeconds?: number;
  confidence?: number;
}

export type BisectCommand =
  | { kind: "bisect"; range: { goods: string[]; bad: string } | null; options: BisectOptions; command: string | null }
  | { kind: "status" }
  | { kind: "cancel" }
  | { kind: "retry" }
  | { kind: "help" };

export const parallelSchema = z.int().min(1).max(MAX_PARALLEL);
export const timeoutSecondsSchema = z.int().min(MIN_TIMEOUT_SECONDS).max(MAX_TIMEOUT_SECONDS);
export const confidenceSchema = z.number().gt(0.5).lt(1);

/** Options as the flags give them: only what was written is present. */
export const bisectOptionsSchema = z
  .strictObject({
    firstParent: z.boolean().optional(),
    flaky: z.boolean().optional(),
    parallel: parallelSchema.optional(),
    timeoutSeconds: timeoutSecondsSchema.optional(),
    confidence: confidenceSchema.optional(),
  })
  .refine((o) => o.confidence === undefined || o.flaky === true, {
    message: "confidence applies only with flaky",
    path: ["confidence"],
  });

const refSchema = z.string().refine(isValidRefExpression, "not a valid ref");

export const bisectCommandSchema: z.ZodType<BisectCommand> = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("bisect"),
    range: z
      .strictObject({ goods: z.array(refSchema).min(1).max(MAX_GOOD_REFS), bad: refSchema })
      .refine((r) => !r.goods.includes(r.bad), "the bad ref is also a good one")
      .nullable(),
    options: bisectOptionsSchema,
    command: z.string().min(1).max(MAX_COMMAND_LENGTH).nullable(),
  }),
  z.strictObject({ kind: z.literal("status") }),
  z.strictObject({ kind: z.literal("cancel") }),
  z.strictObject({ kind: z.literal("retry") }),
  z.strictObject({ kind: z.literal("help") }),
]);
