import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);
import {
  GitCli,
  external_exports,
  runBisect
} from "./shared-43GWOLNX.js";

// action/src/cli/main.ts
import { resolve } from "node:path";

// action/src/cli/settings.ts
import { parseArgs } from "node:util";
var USAGE = `Usage: bisect-bot run --good <ref> [--good <ref>\u2026] --bad <ref> [options] -- <command> [args\u2026]

Finds the first commit where <command> fails, testing commits in temporary git worktrees
(your HEAD and working tree are never touched). Exit status of <command>, as git bisect run:
0 good, 125 skip (untestable), 1\u2013127 bad, 128+ or killed: infrastructure error (retried once).

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
var UsageError = class extends Error {
};
function numberOption(flag, expected, valid) {
  const error = (issue) => `Invalid ${flag} '${String(issue.input)}': expected ${expected}.`;
  return external_exports.string().or(external_exports.number()).refine((v) => v !== "" && valid(Number(v)), { error }).transform(Number);
}
var settingsSchema = external_exports.object({
  dir: external_exports.string().min(1),
  good: external_exports.array(external_exports.string().min(1)).min(1, { error: "Missing --good <ref>: a commit where the test passes (e.g. --good v1.4)." }),
  bad: external_exports.string({ error: "Missing --bad <ref>: the commit where the test fails (e.g. --bad main)." }).min(1),
  command: external_exports.array(external_exports.string()).min(1, { error: "Missing the test command after '--' (e.g. bisect-bot run --good v1.4 --bad main -- npm test)." }),
  firstParent: external_exports.boolean(),
  parallel: numberOption("--parallel", "a whole number from 1 to 64", (n) => Number.isInteger(n) && n >= 1 && n <= 64),
  flaky: external_exports.boolean(),
  verify: external_exports.boolean(),
  confidence: numberOption("--confidence", "a probability such as 0.99 (between 0.5 and 1)", (n) => n > 0.5 && n < 1),
  stepTimeoutSeconds: numberOption("--step-timeout", "a number of seconds such as 600", (n) => n > 0).optional(),
  json: external_exports.boolean(),
  verbose: external_exports.boolean()
});
function parseCli(argv) {
  const split = argv.indexOf("--");
  const before = split < 0 ? [...argv] : argv.slice(0, split);
  const command = split < 0 ? [] : argv.slice(split + 1);
  if (before.length === 0 || before.includes("-h") || before.includes("--help") || before[0] === "help") return "help";
  if (before[0] !== "run") {
    throw new UsageError(`Unknown command '${before[0]}': expected 'run' (bisect-bot run --good <ref> --bad <ref> -- <command>).`);
  }
  let values;
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
        verbose: { type: "boolean" }
      }
    }));
  } catch (error) {
    const original = error.message;
    const message = original.split("\n")[0].replace(/\. (To specify a positional argument|This command does not take positional arguments).*$/s, "");
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
    verbose: values.verbose ?? false
  });
  if (!parsed.success) throw new UsageError(parsed.error.issues[0].message);
  if (values.confidence !== void 0 && !parsed.data.flaky) {
    throw new UsageError(`--confidence ${values.confidence} only applies with --flaky: a deterministic bisect is exact.`);
  }
  return parsed.data;
}

// action/src/cli/main.ts
var EXIT = { culprit: 0, error: 1, ambiguous: 2, "no-culprit": 3 };
var short = (sha) => sha.slice(0, 10);
var seconds = (ms) => `${(ms / 1e3).toFixed(2)}s`;
async function main(argv, io) {
  let settings;
  try {
    settings = parseCli(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`bisect-bot: ${error.message}
`);
      return EXIT.error;
    }
    throw error;
  }
  if (settings === "help") {
    io.stdout(`${USAGE}
`);
    return 0;
  }
  try {
    const result = await bisect(settings, io);
    if (settings.json) io.stdout(`${JSON.stringify(result, null, 2)}
`);
    return result.verdict === "error" ? EXIT.error : EXIT[result.verdict];
  } catch (error) {
    io.stderr(`bisect-bot: ${error.message}
`);
    return io.signal?.aborted ? 130 : EXIT.error;
  }
}
async function bisect(settings, io) {
  const git = await GitCli.open(resolve(settings.dir));
  const [bad, ...good] = await Promise.all([settings.bad, ...settings.good].map((ref) => git.resolveCommit(ref)));
  const log = io.stderr;
  const started = performance.now();
  let tested = 0;
  const onEvent = (event) => {
    switch (event.type) {
      case "start": {
        const at = settings.parallel > 1 ? `, ${settings.parallel} at a time` : "";
        log(
          `Bisecting ${event.rangeSize} commit${event.rangeSize === 1 ? "" : "s"} between ${settings.good.join(", ")} and ${settings.bad}${settings.flaky ? " (flaky mode)" : ""}: about ${event.estimatedTests} test${event.estimatedTests === 1 ? "" : "s"}${at}.
`
        );
        if (event.mergeBases.length > 0) {
          log(`Some good commits are not ancestors of ${settings.bad}: testing the merge base${event.mergeBases.length > 1 ? "s" : ""} ${event.mergeBases.map(short).join(", ")} first.
`);
        }
        break;
      }
      case "probe-start":
        if (settings.verbose) log(`[worker ${event.worker}] testing ${short(event.sha)} (${event.purpose})
`);
        break;
      case "probe-end": {
        tested++;
        const s = event.status;
        const left = s.state === "searching" ? `${s.candidates} left, ~${s.estimatedTests} to go` : "done";
        const note = event.note ? `  (${event.note})` : "";
        log(`  ${String(tested).padStart(3)}. ${short(event.sha)}  ${event.probe.verdict.padEnd(5)} ${seconds(event.probe.durationMs).padStart(7)}  [${left}]${note}
`);
        break;
      }
      case "probe-stopped":
        log(`       ${short(event.sha)}  stopped: its verdict is no longer needed
`);
        break;
      case "warning":
        log(`warning: ${event.message}
`);
        break;
    }
  };
  const result = await runBisect({
    git,
    good,
    bad,
    refNames: { good: settings.good, bad: settings.bad },
    command: settings.command,
    parallel: settings.parallel,
    firstParent: settings.firstParent,
    flaky: settings.flaky,
    verifyBad: settings.verify,
    confidence: settings.confidence,
    ...settings.stepTimeoutSeconds ? { stepTimeoutMs: settings.stepTimeoutSeconds * 1e3 } : {},
    onEvent,
    ...settings.verbose ? { onOutput: (_sha, chunk) => log(chunk.toString()) } : {},
    ...io.signal ? { signal: io.signal } : {}
  });
  await printSummary(result, git, settings, log, performance.now() - started);
  return result;
}
async function printSummary(result, git, settings, log, elapsedMs) {
  const stats = `Tested ${result.tested} time${result.tested === 1 ? "" : "s"} in ${result.rounds} round${result.rounds === 1 ? "" : "s"} (${result.range.size} commits in range), ${seconds(elapsedMs)}.`;
  log("\n");
  switch (result.verdict) {
    case "culprit": {
      const c = await git.describe(result.culprit.sha);
      const confidence = settings.flaky ? `confidence ${result.culprit.confidence.toFixed(3)}` : "confidence 1 (deterministic test)";
      log(`First bad commit: ${c.sha}
    ${c.subject}
    Author: ${c.authorName} <${c.authorEmail}>
    Date:   ${c.date}
`);
      log(`${stats} ${confidence[0].toUpperCase()}${confidence.slice(1)}.
`);
      break;
    }
    case "ambiguous": {
      log("Only skipped commits are left to test. The first bad commit could be any of:\n");
      for (const c of await git.describeMany(result.candidates)) log(`    ${c.sha}  ${c.subject}
`);
      log(`${stats} Narrow it down by making those commits testable, or by testing them by hand.
`);
      break;
    }
    case "no-culprit":
      log(`No culprit: ${result.error ?? "no commit in the range fails the test."}
${stats}
`);
      break;
    case "error":
      log(`bisect-bot: ${result.error}
${stats}
`);
      break;
  }
}

// action/src/cli/entry.ts
var controller = new AbortController();
var interrupts = 0;
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    if (++interrupts > 1) process.exit(130);
    process.stderr.write("\nbisect-bot: stopping, removing worktrees\u2026\n");
    controller.abort();
  });
}
var status = await main(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  signal: controller.signal
});
process.exitCode = status;
