import { parseArgs } from "node:util";
import { z } from "zod";
import { flagSyntax, OPTIONS, optionsOn, optionValuesSchema, SURFACES, type OptionDefinition, type OptionKey } from "../options.js";
import { errorMessage } from "../error-message.js";

/** The options `bisect-bot run` takes: every option defined for the "cli" surface. */
const CLI_OPTIONS = optionsOn("cli");

/** Everything `bisect-bot run` was asked to do, parsed once from argv. */
const settingsSchema = z.strictObject({
  dir: z.string().min(1),
  good: z.array(z.string().min(1)).min(1, { error: "Missing --good <ref>: a commit where the test passes (e.g. --good v1.4)." }),
  bad: z.string({ error: "Missing --bad <ref>: the commit where the test fails (e.g. --bad main)." }).min(1),
  command: z.array(z.string()).min(1, { error: "Missing the test command after '--' (e.g. bisect-bot run --good v1.4 --bad main -- npm test)." }),
  json: z.boolean(),
  verbose: z.boolean(),
  // The values of the CLI's options.
  ...optionValuesSchema.pick(SURFACES.cli).shape,
});
export type CliSettings = z.infer<typeof settingsSchema>;

/** The CLI's own flags, around the options: [syntax, help]. */
const LEADING_FLAGS: readonly [string, string][] = [
  ["-C <dir>", "run in the repository at <dir> (default: current directory)"],
  ["--good <ref>", "a commit where the test passes (repeatable)"],
  ["--bad <ref>", "a commit where the test fails"],
];
const TRAILING_FLAGS: readonly [string, string][] = [
  ["--json", "print the result document (JSON) on stdout"],
  ["--verbose", "show the test command's output"],
  ["-h, --help", "show this help"],
  ["-V, --version", "print the version"],
];

/** An option's help, with its range and default when it takes a value. */
function optionHelp(definition: OptionDefinition): string {
  if (definition.kind === "switch") return definition.help;
  const rule = definition.rule.charAt(0).toUpperCase() + definition.rule.slice(1);
  return `${definition.help}. ${rule}; default ${String(definition.default)}.`;
}

/** `  <syntax>  <help>`, the help wrapped at 100 columns under itself. */
function helpLines(flags: readonly [string, string][]): string {
  const width = Math.max(...flags.map(([syntax]) => syntax.length)) + 2;
  const indent = " ".repeat(2 + width);
  return flags
    .map(([syntax, help]) => {
      const lines: string[] = [];
      let line = "";
      for (const word of help.split(" ")) {
        if (line !== "" && indent.length + line.length + 1 + word.length > 100) {
          lines.push(line);
          line = word;
        } else {
          line = line === "" ? word : `${line} ${word}`;
        }
      }
      lines.push(line);
      return `  ${syntax.padEnd(width)}${lines.join(`\n${indent}`)}`;
    })
    .join("\n");
}

export const USAGE = `Usage: bisect-bot run --good <ref> [--good <ref>…] --bad <ref> [options] -- <command> [args…]

Finds the first commit where <command> fails, testing commits in temporary git worktrees
(your HEAD and working tree are never touched). Exit status of <command>, as git bisect run:
0 good, 125 skip (untestable), 1–127 bad, 128+ or killed: infrastructure error (retried once).

Options:
${helpLines([...LEADING_FLAGS, ...CLI_OPTIONS.map((key): [string, string] => [flagSyntax(OPTIONS[key]), optionHelp(OPTIONS[key])]), ...TRAILING_FLAGS])}

Exit status: 0 culprit found; 2 ambiguous (only skipped commits remain, or flaky mode ran out of
tests); 3 no culprit (no regression in the range, or the failure was a flake); 1 error;
130 interrupted (Ctrl-C; with --json the document still lists the verdicts so far).

Example:
  bisect-bot run --good v1.4 --bad main -- npm test
  bisect-bot run --good v1.4 --bad main --parallel 4 --flaky -- sh -c 'npm ci && npm test'
  bisect-bot run --good v1.4 --bad main --step-timeout 10m --json -- make check`;

/** A usage error: printed as one line (plus a hint), exit status 1. */
export class UsageError extends Error {}

/**
 * An option's value from its flag (a string, or true for a switch), read with the option's own
 * schema; its default when the flag is absent.
 */
function optionValue(key: OptionKey, given: ReturnType<typeof parseArgs>["values"][string]): unknown {
  const definition = OPTIONS[key];
  if (given === undefined) return definition.default;
  const parsed = typeof given === "string" ? definition.text.safeParse(given) : definition.value.safeParse(given);
  if (!parsed.success) throw new UsageError(`Invalid --${definition.name} '${String(given)}': expected ${definition.rule}.`);
  return parsed.data;
}

/**
 * Parses `bisect-bot` arguments. Returns "help" for -h/--help, "version" for -V/--version, else
 * the settings of `run`. Throws UsageError with a one-line message that names the bad value.
 */
export function parseCli(argv: readonly string[]): CliSettings | "help" | "version" {
  const split = argv.indexOf("--");
  const before = split < 0 ? [...argv] : argv.slice(0, split);
  const command = split < 0 ? [] : argv.slice(split + 1);
  if (before.length === 0 || before.includes("-h") || before.includes("--help") || before[0] === "help") return "help";
  if (before.includes("-V") || before.includes("--version") || before[0] === "version") return "version";
  if (before[0] !== "run") {
    throw new UsageError(`Unknown command '${before[0]}': expected 'run' (bisect-bot run --good <ref> --bad <ref> -- <command>).`);
  }

  let values: ReturnType<typeof parseArgs>["values"];
  try {
    ({ values } = parseArgs({
      args: before.slice(1),
      strict: true,
      allowPositionals: false,
      options: {
        C: { type: "string", short: "C" },
        good: { type: "string", multiple: true },
        bad: { type: "string" },
        json: { type: "boolean" },
        verbose: { type: "boolean" },
        ...Object.fromEntries(CLI_OPTIONS.map((key) => [OPTIONS[key].name, { type: OPTIONS[key].kind === "switch" ? "boolean" : "string" }])),
      },
    }));
  } catch (error) {
    // node's messages run over several lines; the first one names the option and the value.
    const original = errorMessage(error);
    const message = original.split("\n")[0]!.replace(/\. (To specify a positional argument|This command does not take positional arguments).*$/s, "");
    const hint = split < 0 && /positional/i.test(original) ? " Put the test command after '--'." : "";
    throw new UsageError(`${message.replace(/\.$/, "")}.${hint}`);
  }

  const parsed = settingsSchema.safeParse({
    dir: values.C ?? ".",
    good: values.good ?? [],
    bad: values.bad,
    command,
    json: values.json ?? false,
    verbose: values.verbose ?? false,
    ...Object.fromEntries(CLI_OPTIONS.map((key) => [key, optionValue(key, values[OPTIONS[key].name])])),
  });
  if (!parsed.success) throw new UsageError(parsed.error.issues[0]!.message);
  const confidence = values[OPTIONS.confidence.name];
  if (confidence !== undefined && !parsed.data.flaky) {
    throw new UsageError(`--${OPTIONS.confidence.name} ${String(confidence)} only applies with --${OPTIONS.flaky.name}: a deterministic bisect is exact.`);
  }
  return parsed.data;
}
