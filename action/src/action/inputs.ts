import { z } from "zod";
import type { KnownVerdict } from "../runner/bisect-runner.js";

/** Every input of the Action, read once and checked (action.yml documents them). */
export interface ActionSettings {
  good: string[];
  bad: string;
  command: string;
  jobId?: string;
  mode: "bisect" | "probe";
  /** Probe mode: the commits to test. */
  commits: string[];
  firstParent: boolean;
  flaky: boolean;
  parallel: number;
  confidence: number;
  stepTimeoutSeconds?: number;
  known: KnownVerdict[];
}

/** The names as action.yml spells them; `core.getInput` maps them to INPUT_<NAME>. */
export const INPUT_NAMES = [
  "good",
  "bad",
  "command",
  "job-id",
  "mode",
  "commits",
  "first-parent",
  "flaky",
  "parallel",
  "confidence",
  "step-timeout",
  "known",
] as const;
export type InputName = (typeof INPUT_NAMES)[number];

const refList = z
  .string()
  .transform((s) => s.split(/[\s,]+/).filter(Boolean));

/** A ref the way a user may write it; never an option for git. */
const ref = z.string().regex(/^[^-\s][^\s]*$/, { error: "expected a commit sha, tag or branch (no spaces, not starting with '-')" });

const knownSchema = z.array(
  z.strictObject({
    sha: z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, { error: "expected a full commit sha" }),
    verdict: z.enum(["good", "bad", "skip"]),
  }),
);

const fields = {
  good: refList.pipe(z.array(ref).min(1, { error: "at least one good commit is required" })),
  bad: ref,
  command: z.string().min(1, { error: "the test command is required, e.g. 'npm test'" }),
  "job-id": z.string().max(200).regex(/^[\w.-]*$/, { error: "letters, digits, '.', '_' and '-' only" }),
  mode: z.enum(["bisect", "probe"], { error: "expected 'bisect' or 'probe'" }),
  commits: refList.pipe(z.array(ref)),
  "first-parent": z.stringbool({ error: "expected true or false" }),
  flaky: z.stringbool({ error: "expected true or false" }),
  parallel: z.coerce.number({ error: "expected a whole number from 1 to 64" }).int({ error: "expected a whole number from 1 to 64" }).min(1, { error: "expected a whole number from 1 to 64" }).max(64, { error: "expected a whole number from 1 to 64" }),
  confidence: z.coerce.number({ error: "expected a probability such as 0.99" }).gt(0.5, { error: "expected a probability between 0.5 and 1" }).lt(1, { error: "expected a probability between 0.5 and 1" }),
  "step-timeout": z.coerce.number({ error: "expected a number of seconds" }).nonnegative({ error: "expected a number of seconds" }),
  known: z.string().transform((text, ctx) => {
    // The workflow passes toJSON(...) of a missing field: "null".
    if (text.trim() === "" || text.trim() === "null") return [];
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: "custom", message: "expected JSON such as [{\"sha\": \"<40 hex>\", \"verdict\": \"good\"}]" });
      return z.NEVER;
    }
  }).pipe(knownSchema),
} satisfies Record<InputName, z.ZodType>;

const DEFAULTS: Partial<Record<InputName, string>> = {
  mode: "bisect",
  "first-parent": "false",
  flaky: "false",
  parallel: "1",
  confidence: "0.99",
  "step-timeout": "0",
  known: "",
  "job-id": "",
  commits: "",
};

/**
 * Reads and checks every input. Throws an Error naming the input, the value and what was
 * expected: `Invalid input 'parallel': '0'. Expected a whole number from 1 to 64.`
 */
export function readInputs(getInput: (name: InputName) => string): ActionSettings {
  const parsed: Record<string, unknown> = {};
  for (const name of INPUT_NAMES) {
    const raw = getInput(name);
    const value = raw === "" ? (DEFAULTS[name] ?? "") : raw;
    const result = (fields[name] as z.ZodType).safeParse(value);
    if (!result.success) {
      const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
      const expected = result.error.issues[0]!.message.replace(/^./, (c) => c.toUpperCase());
      throw new Error(`Invalid input '${name}': '${shown}'. ${expected}.`);
    }
    parsed[name] = result.data;
  }
  const mode = parsed.mode as ActionSettings["mode"];
  const commits = parsed.commits as string[];
  if (mode === "probe" && commits.length === 0) {
    throw new Error("Invalid input 'commits': ''. Probe mode needs the commits to test (shas separated by spaces or commas).");
  }
  const stepTimeout = parsed["step-timeout"] as number;
  return {
    good: parsed.good as string[],
    bad: parsed.bad as string,
    command: parsed.command as string,
    ...(parsed["job-id"] ? { jobId: parsed["job-id"] as string } : {}),
    mode,
    commits,
    firstParent: parsed["first-parent"] as boolean,
    flaky: parsed.flaky as boolean,
    parallel: parsed.parallel as number,
    confidence: parsed.confidence as number,
    ...(stepTimeout > 0 ? { stepTimeoutSeconds: stepTimeout } : {}),
    known: parsed.known as KnownVerdict[],
  };
}
