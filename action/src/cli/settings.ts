import { parseArgs } from "node:util";
import { z } from "zod";

/** Everything `bisect-bot run` was asked to do, parsed once from argv. */
export interface CliSettings {
  dir: string;
  good: string[];
  bad: string;
  command: string[];
  firstParent: boolean;
  parallel: number;
  flaky: boolean;
  verify: boolean;
  confidence: number;
  stepTimeoutSeconds?: number | undefined;
  json: boolean;
  verbose: boolean;
}

export const USAGE = `Usage: bisect-bot run --good <ref> [--good <ref>…] --bad <ref> [options] -- <command> [args…]

Finds the first commit where <command> fails, testing commits in temporary git worktrees
(your HEAD and working tree are never touched). Exit status of <command>, as git bisect run:
0 good, 125 skip (untestable), 1–127 bad, 128+ or killed: infrastructure error (retried once).

Options:
  -C <dir>                run in the repository at <dir> (default: current directory)
  --good <ref>            a commit where the test passes (repeatable)
  --bad <ref>             a commit where the test fails
  --first-parent          follow only the first parent of merges (a merge is one candidate)
  --parallel <k>          test k commits at once, in k worktrees (default 1)
  --flaky                 Bayesian mode for tests that fail at random
  --confidence <p>        flaky mode: stop at this probability (default 0.99)
  --verify                test the bad commit before blaming it, so a range with no
                          regression exits 3 instead of naming the bad commit
  --step-timeout <secs>   a test running longer is an infrastructure error
  --json                  print the result document (JSON) on stdout
  --verbose               show the test command's output
  -h, --help              show this help

Exit status: 0 culprit found; 2 ambiguous (only skipped commits remain);
3 no culprit (no regression in the range, or the failure was a flake); 1 error.

Example:
  bisect-bot run --good v1.4 --bad main -- npm test
  bisect-bot run --good v1.4 --bad main --parallel 4 --flaky -- sh -c 'npm ci && npm test'`;

/** A usage error: printed as one line (plus a hint), exit status 1. */
export class UsageError extends Error {}

/** A numeric option; every failure names the flag, the value and what was expected. */
function numberOption(flag: string, expected: string, valid: (n: number) => boolean) {
  const error = (issue: { input?: unknown }) => `Invalid ${flag} '${String(issue.input)}': expected ${expected}.`;
  return z
    .string()
    .or(z.number())
    .refine((v) => v !== "" && valid(Number(v)), { error })
    .transform(Number);
}

const settingsSchema = z.object({
  dir: z.string().min(1),
  good: z.array(z.string().min(1)).min(1, { error: "Missing --good <ref>: a commit where the test passes (e.g. --good v1.4)." }),
  bad: z.string({ error: "Missing --bad <ref>: the commit where the test fails (e.g. --bad main)." }).min(1),
  command: z.array(z.string()).min(1, { error: "Missing the test command after '--' (e.g. bisect-bot run --good v1.4 --bad main -- npm test)." }),
  firstParent: z.boolean(),
  parallel: numberOption("--parallel", "a whole number from 1 to 64", (n) => Number.isInteger(n) && n >= 1 && n <= 64),
  flaky: z.boolean(),
  verify: z.boolean(),
  confidence: numberOption("--confidence", "a probability such as 0.99 (between 0.5 and 1)", (n) => n > 0.5 && n < 1),
  stepTimeoutSeconds: numberOption("--step-timeout", "a number of seconds such as 600", (n) => n > 0).optional(),
  json: z.boolean(),
  verbose: z.boolean(),
});

/**
 * Parses `bisect-bot` arguments. Returns "help" for -h/--help, else the settings of `run`.
 * Throws UsageError with a one-line message that names the bad value.
 */
export function parseCli(argv: readonly string[]): CliSettings | "help" {
  const split = argv.indexOf("--");
  const before = split < 0 ? [...argv] : argv.slice(0, split);
  const command = split < 0 ? [] : argv.slice(split + 1);
  if (before.length === 0 || before.includes("-h") || before.includes("--help") || before[0] === "help") return "help";
  if (before[0] !== "run") {
    throw new UsageError(`Unknown command '${before[0]}': expected 'run' (bisect-bot run --good <ref> --bad <ref> -- <command>).`);
  }

  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: before.slice(1),
      strict: true,
      allowPositionals: false,
      options: {
        C: { type: "string", short: "C" },
        good: { type: "string", multiple: true },
        bad: { type: "string" },
        "first-parent": { type: "boolean" },
        parallel: { type: "string" },
        flaky: { type: "boolean" },
        verify: { type: "boolean" },
        confidence: { type: "string" },
        "step-timeout": { type: "string" },
        json: { type: "boolean" },
        verbose: { type: "boolean" },
      },
    }));
  } catch (error) {
    // node's messages run over several lines; the first one names the option and the value.
    const original = (error as Error).message;
    const message = original.split("\n")[0]!.replace(/\. (To specify a positional argument|This command does not take positional arguments).*$/s, "");
    const hint = split < 0 && /positional/i.test(original) ? " Put the test command after '--'." : "";
    throw new UsageError(`${message.replace(/\.$/, "")}.${hint}`);
  }

  const parsed = settingsSchema.safeParse({
    dir: values.C ?? ".",
    good: values.good ?? [],
    bad: values.bad,
    command,
    firstParent: values["first-parent"] ?? false,
    parallel: values.parallel ?? 1,
    flaky: values.flaky ?? false,
    verify: values.verify ?? false,
    confidence: values.confidence ?? 0.99,
    stepTimeoutSeconds: values["step-timeout"],
    json: values.json ?? false,
    verbose: values.verbose ?? false,
  });
  if (!parsed.success) throw new UsageError(parsed.error.issues[0]!.message);
  if (values.confidence !== undefined && !parsed.data.flaky) {
    throw new UsageError(`--confidence ${values.confidence} only applies with --flaky: a deterministic bisect is exact.`);
  }
  return parsed.data;
}
