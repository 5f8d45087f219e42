/**
 * What a `/bisect` comment asks for: zod schemas (a parsed command is checked with them, and read
 * back with them when stored) and the types they infer. The options' ranges are the options
 * table's (action/src/options.ts).
 */
import { z } from "zod";
import { optionsOn, optionValuesSchema, SURFACES, type OptionKeyOn } from "../../../action/src/options.js";
import { isValidRefExpression } from "./ref-expression.js";
import { MAX_COMMAND_LENGTH } from "./test-command.js";

/** Each good ref is resolved with its own API call: a few are useful, hundreds are not. */
export const MAX_GOOD_REFS = 8;

export type CommentOptionKey = OptionKeyOn<"comment">;

/** The comment's options, in the table's order. */
export const COMMENT_OPTION_KEYS: readonly CommentOptionKey[] = optionsOn("comment");

/** Options as the flags give them: only what was written is present, each within the table's range. */
export const bisectOptionsSchema = z
  .strictObject(optionValuesSchema.pick(SURFACES.comment).partial().shape)
  .refine((o) => o.confidence === undefined || o.flaky === true, {
    error: "confidence applies only with flaky",
    path: ["confidence"],
  });
export type BisectOptions = z.infer<typeof bisectOptionsSchema>;

const refSchema = z.string().refine(isValidRefExpression, { error: "not a valid ref" });

/** A failed workflow run named by its URL (`/bisect https://github.com/o/r/actions/runs/123`). */
export const runRefSchema = z.strictObject({ owner: z.string().min(1), repo: z.string().min(1), runId: z.int().positive() });
export type RunRef = z.infer<typeof runRefSchema>;

export const bisectCommandSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("bisect"),
    /** Null: the pull request's base..head. */
    range: z
      .strictObject({ goods: z.array(refSchema).min(1).max(MAX_GOOD_REFS), bad: refSchema })
      .refine((r) => !r.goods.includes(r.bad), { error: "the bad ref is also a good one" })
      .nullable(),
    /** A failed run whose range (the run before it, green, to its head) is bisected; only without a range. */
    run: runRefSchema.optional(),
    options: bisectOptionsSchema,
    /** Null: the repository's default command. */
    command: z.string().min(1).max(MAX_COMMAND_LENGTH).nullable(),
  }),
  z.strictObject({ kind: z.literal("status") }),
  z.strictObject({ kind: z.literal("cancel") }),
  z.strictObject({ kind: z.literal("retry") }),
  z.strictObject({ kind: z.literal("help") }),
]);
export type BisectCommand = z.infer<typeof bisectCommandSchema>;
