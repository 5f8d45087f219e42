import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);
import {
  GitCli,
  OPTIONS,
  SURFACES,
  errorMessage,
  external_exports,
  flagSyntax,
  optionValuesSchema,
  optionsOn,
  resolveRange,
  runBisect,
  runnerOptions
} from "./shared-BPPMBT3U.js";

// action/src/cli/main.ts
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// action/src/non-code-paths.ts
var CI = [
  /^\.github\//,
  /^\.gitlab-ci\.ya?ml$/,
  /^\.circleci\//,
  /^\.travis\.ya?ml$/,
  /^azure-pipelines\.ya?ml$/,
  /(^|\/)Jenkinsfile$/,
  /^\.buildkite\//,
  /^appveyor\.ya?ml$/,
  /^\.drone\.ya?ml$/
];
var DOCS = [
  /\.(md|markdown|rst|adoc|asciidoc)$/i,
  /(^|\/)docs?\//,
  /(^|\/)(README|CHANGELOG|CHANGES|HISTORY|LICENSE|LICENCE|NOTICE|AUTHORS|CONTRIBUTING|CODE_OF_CONDUCT)(\.[^/]*)?$/i
];
var TESTS = [
  /(^|\/)(tests?|__tests__|spec|specs|testdata|test-data)\//,
  /(^|\/)[^/]+[._-](test|spec)\.[^/]+$/,
  /(^|\/)test_[^/]+\.py$/,
  /(^|\/)[^/]+_test\.(go|py|rb|exs?)$/,
  /(^|\/)[^/]+Tests?\.(java|kt|cs|swift|scala)$/
];
function nonCodeKind(path) {
  if (CI.some((r) => r.test(path))) return "CI configuration";
  if (TESTS.some((r) => r.test(path))) return "tests";
  if (DOCS.some((r) => r.test(path))) return "documentation";
  return null;
}
function onlyNonCode(paths) {
  if (paths.length === 0) return null;
  const kinds = /* @__PURE__ */ new Set();
  for (const path of paths) {
    const kind = nonCodeKind(path);
    if (kind === null) return null;
    kinds.add(kind);
  }
  return [...kinds].sort();
}

// action/src/cli/settings.ts
import { parseArgs } from "node:util";
var CLI_OPTIONS = optionsOn("cli");
var settingsSchema = external_exports.strictObject({
  dir: external_exports.string().min(1),
  good: external_exports.array(external_exports.string().min(1)).min(1, { error: "Missing --good <ref>: a commit where the test passes (e.g. --good v1.4)." }),
  bad: external_exports.string({ error: "Missing --bad <ref>: the commit where the test fails (e.g. --bad main)." }).min(1),
  command: external_exports.array(external_exports.string()).min(1, { error: "Missing the test command after '--' (e.g. bisect-bot run --good v1.4 --bad main -- npm test)." }),
  json: external_exports.boolean(),
  verbose: external_exports.boolean(),
  // The values of the CLI's options.
  ...optionValuesSchema.pick(SURFACES.cli).shape
});
var LEADING_FLAGS = [
  ["-C <dir>", "run in the repository at <dir> (default: current directory)"],
  ["--good <ref>", "a commit where the test passes (repeatable)"],
  ["--bad <ref>", "a commit where the test fails"]
];
var TRAILING_FLAGS = [
  ["--json", "print the result document (JSON) on stdout"],
  ["--verbose", "show the test command's output"],
  ["-h, --help", "show this help"],
  ["-V, --version", "print the version"]
];
function optionHelp(definition) {
  if (definition.kind === "switch") return definition.help;
  const rule = definition.rule.charAt(0).toUpperCase() + definition.rule.slice(1);
  return `${definition.help}. ${rule}; default ${String(definition.default)}.`;
}
function helpLines(flags) {
  const width = Math.max(...flags.map(([syntax]) => syntax.length)) + 2;
  const indent = " ".repeat(2 + width);
  return flags.map(([syntax, help]) => {
    const lines = [];
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
    return `  ${syntax.padEnd(width)}${lines.join(`
${indent}`)}`;
  }).join("\n");
}
var USAGE = `Usage: bisect-bot run --good <ref> [--good <ref>\u2026] --bad <ref> [options] -- <command> [args\u2026]

Finds the first commit where <command> fails, testing commits in temporary git worktrees
(your HEAD and working tree are never touched). Exit status of <command>, as git bisect run:
0 good, 125 skip (untestable), 1\u2013127 bad, 128+ or killed: infrastructure error (retried once).

Options:
${helpLines([...LEADING_FLAGS, ...CLI_OPTIONS.map((key) => [flagSyntax(OPTIONS[key]), optionHelp(OPTIONS[key])]), ...TRAILING_FLAGS])}

Exit status: 0 culprit found; 2 ambiguous (only skipped commits remain, or flaky mode ran out of
tests); 3 no culprit (no regression in the range, or the failure was a flake); 1 error;
130 interrupted (Ctrl-C; with --json the document still lists the verdicts so far).

Example:
  bisect-bot run --good v1.4 --bad main -- npm test
  bisect-bot run --good v1.4 --bad main --parallel 4 --flaky -- sh -c 'npm ci && npm test'
  bisect-bot run --good v1.4 --bad main --step-timeout 10m --json -- make check`;
var UsageError = class extends Error {
};
function optionValue(key, given) {
  const definition = OPTIONS[key];
  if (given === void 0) return definition.default;
  const parsed = typeof given === "string" ? definition.text.safeParse(given) : definition.value.safeParse(given);
  if (!parsed.success) throw new UsageError(`Invalid --${definition.name} '${String(given)}': expected ${definition.rule}.`);
  return parsed.data;
}
function parseCli(argv) {
  const split = argv.indexOf("--");
  const before = split < 0 ? [...argv] : argv.slice(0, split);
  const command = split < 0 ? [] : argv.slice(split + 1);
  if (before.length === 0 || before.includes("-h") || before.includes("--help") || before[0] === "help") return "help";
  if (before.includes("-V") || before.includes("--version") || before[0] === "version") return "version";
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
        json: { type: "boolean" },
        verbose: { type: "boolean" },
        ...Object.fromEntries(CLI_OPTIONS.map((key) => [OPTIONS[key].name, { type: OPTIONS[key].kind === "switch" ? "boolean" : "string" }]))
      }
    }));
  } catch (error) {
    const original = errorMessage(error);
    const message = original.split("\n")[0].replace(/\. (To specify a positional argument|This command does not take positional arguments).*$/s, "");
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
    ...Object.fromEntries(CLI_OPTIONS.map((key) => [key, optionValue(key, values[OPTIONS[key].name])]))
  });
  if (!parsed.success) throw new UsageError(parsed.error.issues[0].message);
  const confidence = values[OPTIONS.confidence.name];
  if (confidence !== void 0 && !parsed.data.flaky) {
    throw new UsageError(`--${OPTIONS.confidence.name} ${String(confidence)} only applies with --${OPTIONS.flaky.name}: a deterministic bisect is exact.`);
  }
  return parsed.data;
}

// action/src/cli/main.ts
var EXIT = { culprit: 0, error: 1, ambiguous: 2, "no-culprit": 3, interrupted: 130 };
function exitStatus(verdict) {
  return verdict === "searching" ? EXIT.error : EXIT[verdict];
}
var packageSchema = external_exports.object({ name: external_exports.literal("bisect-bot"), version: external_exports.string() });
async function packageVersion() {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const parsed = packageSchema.safeParse(await readFile(join(dir, "package.json"), "utf8").then(JSON.parse, () => null));
    if (parsed.success) return parsed.data.version;
    if (dirname(dir) === dir) return "unknown";
  }
}
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
  if (settings === "version") {
    io.stdout(`${await packageVersion()}
`);
    return 0;
  }
  try {
    const result = await bisect(settings, io);
    if (settings.json) io.stdout(`${JSON.stringify(result, null, 2)}
`);
    return exitStatus(result.verdict);
  } catch (error) {
    io.stderr(`bisect-bot: ${errorMessage(error)}
`);
    return io.signal?.aborted ? EXIT.interrupted : EXIT.error;
  }
}
async function bisect(settings, io) {
  const git = await GitCli.open(resolve(settings.dir));
  const range = await resolveRange(git, settings);
  const log = io.stderr;
  const started = performance.now();
  let tested = 0;
  const onEvent = (event) => {
    switch (event.type) {
      case "start": {
        const at = settings.parallel > 1 ? `, ${settings.parallel} at a time` : "";
        log(
          `Bisecting ${event.rangeSize} commit${event.rangeSize === 1 ? "" : "s"} between ${settings.good.join(", ")} and ${settings.bad}${settings.findFix ? ", looking for the fix" : ""}${settings.flaky ? " (flaky mode)" : ""}: about ${event.estimatedTests} test${event.estimatedTests === 1 ? "" : "s"}${at}.
`
        );
        if (event.mergeBases.length > 0) {
          log(
            `Some good commits are not ancestors of ${settings.bad}: testing the merge base${event.mergeBases.length > 1 ? "s" : ""} ${event.mergeBases.map(short).join(", ")} first.
`
          );
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
        log(
          `  ${String(tested).padStart(3)}. ${short(event.sha)}  ${event.probe.verdict.padEnd(5)} ${seconds(event.probe.durationMs).padStart(7)}  [${left}]${note}
`
        );
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
    ...range,
    command: settings.command,
    ...runnerOptions(settings),
    onEvent,
    ...settings.verbose ? { onOutput: (_sha, chunk) => log(chunk.toString()) } : {},
    ...io.signal ? { signal: io.signal } : {}
  });
  await printSummary(result, git, settings, log, performance.now() - started);
  return result;
}
async function onFirstParentLine(git, result) {
  if (!result.culprit) return true;
  const line = await git.rangeCommits(result.range.bad, result.range.good, true);
  return line.some((c) => c.sha === result.culprit.sha);
}
function confirmationText(c, findFix) {
  const [culpritDid, parentDid] = findFix ? ["passed", "failed"] : ["failed", "passed"];
  const counts = `the ${findFix ? "fix" : "culprit"} ${culpritDid} ${c.culpritFailed} of ${c.runs} re-runs and its parent${c.parentPassed === c.runs ? "" : "s"} ${parentDid} ${c.parentPassed} of ${c.runs}`;
  return c.verdict === "confirmed" ? `Confirmed: ${counts}.` : `Not reproducible: ${counts}. Treat the answer with care: the test may be flaky (--flaky).`;
}
function noFixReason(result, bad) {
  if (result.reason === "flake") return "the passes look like flakes: no commit in the range is likely to have fixed the test.";
  return `${bad} still fails the test, so no commit in the range fixed it.`;
}
async function printSummary(result, git, settings, log, elapsedMs) {
  const stats = `Tested ${result.tested} time${result.tested === 1 ? "" : "s"} in ${result.rounds} round${result.rounds === 1 ? "" : "s"} (${result.range.size} commits in range), ${seconds(elapsedMs)}.`;
  log("\n");
  switch (result.verdict) {
    case "culprit": {
      const c = await git.describe(result.culprit.sha);
      const confidence = settings.flaky ? `confidence ${result.culprit.confidence.toFixed(3)}` : "confidence 1 (deterministic test)";
      log(
        `${settings.findFix ? "First fixed commit" : "First bad commit"}: ${c.sha}
    ${c.subject}
    Author: ${c.authorName} <${c.authorEmail}>
    Date:   ${c.date}
`
      );
      log(`${stats} ${confidence[0].toUpperCase()}${confidence.slice(1)}.
`);
      if (result.confirmation) log(`${confirmationText(result.confirmation, settings.findFix)}
`);
      const kinds = onlyNonCode(await git.changedPaths(c.sha));
      if (kinds !== null) {
        log(
          `Note: ${short(c.sha)} changes only ${kinds.join(" and ")}, not code the test runs: ` + (kinds.includes("tests") ? "a new or changed test may be exposing an older problem.\n" : "the test may be flaky (--flaky, --confirm 3).\n")
        );
      }
      if (!settings.firstParent && !await onFirstParentLine(git, result)) {
        log(
          `Note: ${short(c.sha)} is a commit of a branch merged into ${settings.bad}, not on its first-parent line. If you meant to bisect that line itself (each merge as one commit), run again with --first-parent: the answer is then the merge that brought this branch in.
`
        );
      }
      break;
    }
    case "ambiguous": {
      const outOfTests = result.reason === "out-of-tests";
      log(
        outOfTests ? `The tests ran out before one commit reached the confidence. The likeliest first ${settings.findFix ? "fixed" : "bad"} commits:
` : `Only skipped commits are left to test. The first ${settings.findFix ? "fixed" : "bad"} commit could be any of:
`
      );
      for (const c of await git.describeMany(result.candidates)) log(`    ${c.sha}  ${c.subject}
`);
      log(
        outOfTests ? `${stats} Run again with a lower --confidence, or test those commits by hand.
` : `${stats} Narrow it down by making those commits testable, or by testing them by hand.
`
      );
      break;
    }
    case "no-culprit":
      log(
        settings.findFix ? `No fix: ${noFixReason(result, settings.bad)}
${stats}
` : `No culprit: ${result.error ?? "no commit in the range fails the test."}
${stats}
`
      );
      break;
    case "error":
      log(`bisect-bot: ${result.error}
${stats}
`);
      break;
    case "interrupted":
    case "searching":
      log(`bisect-bot: ${result.error ?? "The bisection stopped before it ended."}
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
