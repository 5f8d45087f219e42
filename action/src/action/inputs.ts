import { z } from "zod";
import { OPTIONS, optionsOn, optionValuesSchema, SURFACES, type OptionKey } from "../options.js";
import { shaSchema } from "../result-document.js";

/** The options the Action takes as inputs: every option defined for the "action" surface. */
const ACTION_OPTIONS = optionsOn("action");

const refList = z.string().transform((s) => s.split(/[\s,]+/).filter(Boolean));

/** A ref the way a user may write it; never an option for git. */
const ref = z.string().regex(/^[^-\s][^\s]*$/, { error: "expected a commit sha, tag or branch (no spaces, not starting with '-')" });

/** Verdicts an earlier attempt recorded: tests, not infrastructure errors. */
const knownSchema = z.array(
  z.strictObject({
    sha: z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, { error: "expected a full commit sha" }),
    verdict: z.enum(["good", "bad", "skip"]),
  }),
);

/** The Action's own inputs (the options' come from options.ts), as read from their text; a missing one reads as its default. */
const OWN_INPUTS = {
  good: { text: refList.pipe(z.array(ref).min(1, { error: "at least one good commit is required" })), default: "" },
  bad: { text: ref, default: "" },
  command: { text: z.string().min(1, { error: "the test command is required, e.g. 'npm test'" }), default: "" },
  "job-id": {
    text: z
      .string()
      .max(200)
      .regex(/^[\w.-]*$/, { error: "letters, digits, '.', '_' and '-' only" }),
    default: "",
  },
  mode: { text: z.enum(["bisect", "probe"], { error: "expected 'bisect' or 'probe'" }), default: "bisect" },
  commits: { text: refList.pipe(z.array(ref)), default: "" },
  "flake-history": {
    // `<false failures>/<clean tests>` earlier flaky bisects of the test measured, or nothing.
    text: z
      .string()
      .regex(/^(?:|\d{1,6}\/\d{1,6})$/, { error: "expected <false failures>/<clean tests>, such as 9/52, or nothing" })
      .transform((text) => {
        if (text === "") return null;
        const slash = text.indexOf("/");
        return { falseFailures: Number(text.slice(0, slash)), cleanTests: Number(text.slice(slash + 1)) };
      })
      .refine((h) => h === null || h.falseFailures <= h.cleanTests, { error: "expected no more false failures than clean tests" }),
    default: "",
  },
  known: {
    text: z
      .string()
      .transform((text, ctx) => {
        // The workflow passes toJSON(...) of a missing field: "null".
        if (text.trim() === "" || text.trim() === "null") return [];
        try {
          const parsed: unknown = JSON.parse(text);
          return parsed;
        } catch {
          ctx.addIssue({ code: "custom", message: 'expected JSON such as [{"sha": "<40 hex>", "verdict": "good"}]' });
          return z.NEVER;
        }
      })
      .pipe(knownSchema),
    default: "",
  },
};
type OwnInput = keyof typeof OWN_INPUTS;

/** The names as action.yml spells them, in its order; `core.getInput` maps them to INPUT_<NAME>. */
export const INPUT_NAMES: readonly string[] = [
  ...(["good", "bad", "command", "job-id", "mode", "commits"] satisfies OwnInput[]),
  ...ACTION_OPTIONS.map((key) => OPTIONS[key].name),
  ...(["known", "flake-history"] satisfies OwnInput[]),
];

/** Every input of the Action, read once and checked (action.yml documents them). */
const settingsSchema = z.strictObject({
  good: z.array(z.string()).min(1),
  bad: z.string(),
  command: z.string(),
  jobId: z.string().optional(),
  mode: z.enum(["bisect", "probe"]),
  /** Probe mode: the commits to test. */
  commits: z.array(z.string()),
  known: knownSchema,
  flakeHistory: z.strictObject({ falseFailures: z.int(), cleanTests: z.int() }).nullable(),
  // The values of the Action's options.
  ...optionValuesSchema.pick(SURFACES.action).shape,
});
export type ActionSettings = z.infer<typeof settingsSchema>;

/** `Invalid input 'parallel': '0'. Expected a whole number from 1 to 64.` */
function invalid(name: string, value: string, expected: string): Error {
  const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  return new Error(`Invalid input '${name}': '${shown}'. ${expected.charAt(0).toUpperCase()}${expected.slice(1)}.`);
}

/**
 * Reads and checks every input. Throws an Error naming the input, the value and what was
 * expected: `Invalid input 'parallel': '0'. Expected a whole number from 1 to 64.`
 */
export function readInputs(getInput: (name: string) => string): ActionSettings {
  const own = (name: OwnInput): unknown => {
    const input = OWN_INPUTS[name];
    const raw = getInput(name);
    const value = raw === "" ? input.default : raw;
    const result = input.text.safeParse(value);
    if (!result.success) throw invalid(name, value, result.error.issues[0]!.message);
    return result.data;
  };
  const option = (key: OptionKey): unknown => {
    const definition = OPTIONS[key];
    const raw = getInput(definition.name);
    if (raw === "") return definition.default;
    const result = definition.text.safeParse(raw);
    if (!result.success) throw invalid(definition.name, raw, `expected ${definition.rule}`);
    return result.data;
  };

  const values = {
    good: own("good"),
    bad: own("bad"),
    command: own("command"),
    jobId: own("job-id") || undefined,
    mode: own("mode"),
    commits: own("commits"),
    ...Object.fromEntries(ACTION_OPTIONS.map((key) => [key, option(key)])),
    known: own("known"),
    flakeHistory: own("flake-history"),
  };
  const settings = settingsSchema.parse(values);
  if (settings.mode === "probe") {
    if (settings.commits.length === 0) {
      throw new Error("Invalid input 'commits': ''. Probe mode needs the commits to test (shas separated by spaces or commas).");
    }
    // Probe mode reads no history (a fan-out runner's clone holds only the commit it tests), so
    // good and bad cannot be resolved: they are taken as given, and must already be full shas.
    const notSha = (name: "good" | "bad", refs: readonly string[]) => {
      const ref = refs.find((r) => !shaSchema.safeParse(r).success);
      if (ref !== undefined) {
        throw invalid(
          name,
          ref,
          "expected a full lowercase commit sha in probe mode, which does not resolve names (it has no history to resolve them in); " +
            `pass the output of 'git rev-parse ${ref}^{commit}'`,
        );
      }
    };
    notSha("good", settings.good);
    notSha("bad", [settings.bad]);
  }
  return settings;
}
