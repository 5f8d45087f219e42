/**
 * Every option of a bisect, defined once: its name, its range, its default and its help text.
 * The CLI's flags, the Action's inputs, the `/bisect` comment's flags, the keys of
 * `.github/bisect.yml` and `/bisect help` all read this table, so a value that one surface
 * accepts, every surface that has the option accepts. Pure: no I/O.
 */
import { z } from "zod";

/** Where an option can be given. */
export type Surface = "cli" | "action" | "comment" | "config";

/** Durations as users write them: digits alone are seconds, else `1h30m`, `30m`, `90s`. */
const UNITS = [
  ["h", 3600],
  ["m", 60],
  ["s", 1],
] as const;

/**
 * The number of seconds `text` stands for, or null when it is not a duration: digits alone are
 * seconds; otherwise whole numbers each followed by `h`, `m` or `s`, in that order, each unit once.
 * @example parseDuration("1h30m") === 5400
 */
export function parseDuration(text: string): number | null {
  if (text.length === 0 || text.length > 32) return null;
  let total = 0;
  let nextUnit = 0;
  let i = 0;
  while (i < text.length) {
    const start = i;
    while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
    if (i === start) return null;
    const amount = Number(text.slice(start, i));
    if (i === text.length) return start === 0 ? amount : null; // plain seconds, or a number missing its unit
    const unit = UNITS.findIndex(([name]) => name === text[i]);
    if (unit < nextUnit) return null;
    total += amount * UNITS[unit]![1];
    nextUnit = unit + 1;
    i++;
  }
  return total;
}

/** The shortest way to write `seconds` that parseDuration reads back: 5400 → `1h30m`. */
export function formatDuration(seconds: number): string {
  let rest = seconds;
  let out = "";
  for (const [name, size] of UNITS) {
    const amount = Math.floor(rest / size);
    rest -= amount * size;
    if (amount > 0) out += `${amount}${name}`;
  }
  return out === "" ? "0s" : out;
}

/** A number written as text: the characters `pattern` allows (at most 24), read as a number, then held to its range. */
function numberText(pattern: RegExp, expected: { error: string }, value: z.ZodNumber) {
  return z
    .string()
    .refine((text) => text.length <= 24 && pattern.test(text), expected)
    .transform(Number)
    .pipe(value);
}

const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value));

interface Common {
  /** The flag and input name: `--first-parent`, `first-parent`; `.github/bisect.yml` spells it `first_parent`. */
  name: string;
  /** One line, for every surface's help. */
  help: string;
}

function switchOption(o: Common) {
  const value = z.boolean();
  return {
    ...o,
    kind: "switch" as const,
    rule: "true or false",
    default: false,
    value,
    /** As an Action input: `true`/`false` (and zod's other spellings: yes/no, on/off, 1/0). */
    text: z.stringbool({ error: "expected true or false" }),
    yaml: value,
    /** Switches have no value to repair. */
    repair: (_text: string) => true,
  };
}

/** What a value-taking option shows in an example when the user's value cannot be repaired. */
interface Example {
  example: string;
}

/** An option whose value is a number: its text form is what `pattern` lets through, in range. */
function numberOption<K extends "integer" | "probability", O extends Common & Example>(
  o: O,
  kind: K,
  rule: string,
  range: z.ZodNumber,
  pattern: RegExp,
  repair: (text: string) => number,
) {
  return { ...o, kind, rule, value: range, text: numberText(pattern, { error: `expected ${rule}` }, range), yaml: range, repair };
}

function integerOption(o: Common & Example & { min: number; max: number; default: number; placeholder: string }) {
  const rule = `a whole number from ${o.min} to ${o.max}`;
  const expected = { error: `expected ${rule}` };
  // The nearest value in range (for a corrected example).
  return numberOption(o, "integer", rule, z.int(expected).min(o.min, expected).max(o.max, expected), /^\d{1,9}$/, (text) => {
    const near = text.trim() === "" ? NaN : Number(text);
    return clamp(Math.round(Number.isFinite(near) ? near : Number(o.example)), o.min, o.max);
  });
}

function probabilityOption(o: Common & Example & { above: number; below: number; default: number; placeholder: string }) {
  const rule = `a probability above ${o.above} and below ${o.below}, such as ${o.default}`;
  const expected = { error: `expected ${rule}` };
  const range = z.number(expected).gt(o.above, expected).lt(o.below, expected);
  // `0.99`, `.99`, `1`: digits with at most one decimal point, no sign or exponent. `99%` or `99`
  // probably meant 0.99 (rounded: 99.9 % is 0.999, not 0.9990000000000001).
  return numberOption(o, "probability", rule, range, /^(?:\d+\.?\d*|\.\d+)$/, (text) => {
    const percent = Math.round(Number(text.endsWith("%") ? text.slice(0, -1) : text) * 10) / 1000;
    return range.safeParse(percent).success ? percent : Number(o.example);
  });
}

function durationOption(o: Common & Example & { min: number; max: number; default: number; placeholder: string; rule: string }) {
  const value = z
    .int({ error: `expected ${o.rule}` })
    .min(o.min, { error: `expected ${o.rule}` })
    .max(o.max, { error: `expected ${o.rule}` });
  const fromText = z
    .string()
    .transform((text, ctx) => {
      const seconds = parseDuration(text.trim());
      if (seconds === null) {
        ctx.addIssue({ code: "custom", message: `expected ${o.rule}` });
        return z.NEVER;
      }
      return seconds;
    })
    .pipe(value);
  return {
    ...o,
    kind: "duration" as const,
    value,
    text: fromText,
    /** In YAML a duration is text (`30m`) or a number of seconds. */
    yaml: z.union([value, fromText], { error: `expected ${o.rule}` }),
    repair: (text: string) => {
      // A duration, else a plain number (`-1` is nearest to 0), else the example.
      const number = text.trim() === "" ? NaN : Number(text);
      const seconds = parseDuration(text.trim()) ?? (Number.isFinite(number) ? Math.round(number) : (parseDuration(o.example) ?? o.default));
      return clamp(seconds, o.min, o.max);
    },
  };
}

/** A job on a GitHub-hosted runner lasts at most 6 hours. */
const SIX_HOURS = 6 * 3600;

/**
 * The options, keyed by the name the code uses. Each one's `value` schema is its range; `text`
 * reads it from a string (a flag's value, an Action input); `yaml` from a YAML value.
 */
export const OPTIONS = {
  firstParent: switchOption({
    name: "first-parent",
    help: "follow only the first parent of merges: a merged branch counts as its merge commit",
  }),
  flaky: switchOption({
    name: "flaky",
    help: "for tests that fail at random: repeats tests, weighs every verdict, and may conclude the failure was a flake",
  }),
  findFix: switchOption({
    name: "find-fix",
    help: "find the fix instead: the first commit where the test passes, from a good ref where it still fails to a bad ref where it passes (git bisect --term-old broken --term-new fixed)",
  }),
  parallel: integerOption({
    name: "parallel",
    help: "test k commits at once, each in its own git worktree",
    placeholder: "k",
    example: "4",
    min: 1,
    max: 64,
    default: 1,
  }),
  runners: integerOption({
    name: "runners",
    help: "test k commits a round, each on its own Actions runner: N commits take about log(N)/log(k+1) rounds",
    placeholder: "k",
    example: "7",
    min: 1,
    // A round is one workflow run whose matrix has k jobs; 32 keeps a round within what one
    // repository's runners and one artifact listing page (100) handle.
    max: 32,
    default: 1,
  }),
  confidence: probabilityOption({
    name: "confidence",
    help: "with flaky, stop when one answer has this probability",
    placeholder: "p",
    example: "0.99",
    above: 0.5,
    below: 1,
    default: 0.99,
  }),
  timeoutSeconds: durationOption({
    name: "timeout",
    help: "give up on the whole bisect after this long",
    placeholder: "duration",
    rule: "a duration from 1m to 6h, such as 90s, 30m, 1h30m or 900 (seconds)",
    example: "30m",
    min: 60,
    max: SIX_HOURS,
    // The App's default; BISECT_TIMEOUT_SECONDS changes it for an installation.
    default: 1800,
  }),
  stepTimeoutSeconds: durationOption({
    name: "step-timeout",
    help: "a test running longer than this is an infrastructure error (retried once, then skipped)",
    placeholder: "duration",
    rule: "a duration up to 6h, such as 90s, 10m or 600 (seconds); 0 for no limit",
    example: "10m",
    min: 0,
    max: SIX_HOURS,
    // No limit.
    default: 0,
  }),
  confirm: integerOption({
    name: "confirm",
    help: "after the search, re-run the culprit and its parent(s) n times: confirmed only when the culprit failed and its parents passed every time",
    placeholder: "n",
    example: "3",
    min: 0,
    max: 20,
    default: 0,
  }),
  verify: switchOption({
    name: "verify",
    help: "test the bad commit before blaming it, so a range with no regression ends as no culprit",
  }),
};

export type OptionKey = keyof typeof OPTIONS;
export type OptionDefinition = (typeof OPTIONS)[OptionKey];

/** Every option's value, as the engine and the runner take them. */
export const optionValuesSchema = z.object({
  firstParent: OPTIONS.firstParent.value,
  flaky: OPTIONS.flaky.value,
  findFix: OPTIONS.findFix.value,
  parallel: OPTIONS.parallel.value,
  runners: OPTIONS.runners.value,
  confidence: OPTIONS.confidence.value,
  timeoutSeconds: OPTIONS.timeoutSeconds.value,
  stepTimeoutSeconds: OPTIONS.stepTimeoutSeconds.value,
  confirm: OPTIONS.confirm.value,
  verify: OPTIONS.verify.value,
});
export type OptionValues = z.infer<typeof optionValuesSchema>;

/** Every option's key, in the table's order. */
export const OPTION_KEYS: readonly OptionKey[] = Object.keys(OPTIONS).filter(isOptionKey);

export function isOptionKey(key: string): key is OptionKey {
  return Object.hasOwn(OPTIONS, key);
}

/**
 * Which options each surface has: the CLI and the Action run one bisection (the CLI can also
 * verify the bad commit first); a comment and `.github/bisect.yml` set a job's options, its time
 * limit and its runners (the App's fan-out) included. A surface's schema is `optionValuesSchema.pick(SURFACES[surface])`.
 */
const JOB_OPTIONS = {
  firstParent: true,
  flaky: true,
  findFix: true,
  parallel: true,
  runners: true,
  confidence: true,
  timeoutSeconds: true,
  stepTimeoutSeconds: true,
  confirm: true,
} as const;
export const SURFACES = {
  cli: { firstParent: true, flaky: true, findFix: true, parallel: true, confidence: true, stepTimeoutSeconds: true, confirm: true, verify: true },
  action: { firstParent: true, flaky: true, findFix: true, parallel: true, confidence: true, stepTimeoutSeconds: true, confirm: true },
  comment: JOB_OPTIONS,
  config: JOB_OPTIONS,
} as const satisfies Record<Surface, Partial<Record<OptionKey, true>>>;

export type OptionKeyOn<S extends Surface> = keyof (typeof SURFACES)[S] & OptionKey;

/** The options a surface has, in the table's order. */
export function optionsOn<S extends Surface>(surface: S): OptionKeyOn<S>[] {
  const has = SURFACES[surface];
  return OPTION_KEYS.filter((key): key is OptionKeyOn<S> => Object.hasOwn(has, key));
}

/** How a flag is written with its value: `--parallel <k>`, `--flaky`. */
export function flagSyntax(definition: OptionDefinition): string {
  return definition.kind === "switch" ? `--${definition.name}` : `--${definition.name} <${definition.placeholder}>`;
}

/** `first-parent` → `first_parent`: how `.github/bisect.yml` and the workflow's options JSON spell it. */
export function configKey(definition: OptionDefinition): string {
  return definition.name.replaceAll("-", "_");
}
