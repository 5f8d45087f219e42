/**
 * A repository's `.github/bisect.yml` (app/src/config/repo-config.ts): the defaults, every key,
 * and errors that point at the line to fix and say what to write.
 */
import { describe, expect, it } from "vitest";
import { configKey, OPTIONS, optionsOn } from "../../../action/src/options.js";
import { CONFIG_OPTION_KEYS, DEFAULT_REPO_CONFIG, parseRepoConfig, type RepoConfig } from "../../../app/src/config/repo-config.js";

function config(text: string | null): RepoConfig {
  const result = parseRepoConfig(text);
  if (!result.ok) throw new Error(`refused: ${result.message}`);
  return result.config;
}

function refused(text: string): { message: string; line: number | null } {
  const result = parseRepoConfig(text);
  if (result.ok) throw new Error(`accepted ${JSON.stringify(text)}: ${JSON.stringify(result.config)}`);
  return { message: result.message, line: result.line };
}

describe("defaults", () => {
  it("are what a repository without the file gets", () => {
    expect(DEFAULT_REPO_CONFIG).toEqual({
      command: null,
      workflow: "bisect.yml",
      parallel: 1,
      runners: 1,
      confidence: 0.99,
      timeoutSeconds: null,
      stepTimeoutSeconds: 0,
      flaky: false,
      findFix: false,
      confirm: 0,
      firstParent: false,
      maxCommits: 20000,
      maxRunnerMinutes: null,
      setup: null,
      auto: null,
      maxAutoBisectsPerDay: 10,
    });
    expect(config(null)).toEqual(DEFAULT_REPO_CONFIG);
  });

  it("apply to an empty file, blank lines, comments, a bare document or null", () => {
    for (const text of ["", "\n\n", "# Bisect Bot settings\n# (none yet)\n", "---\n", "---\n# nothing\n...\n", "~", "null"]) {
      expect(config(text), JSON.stringify(text)).toEqual(DEFAULT_REPO_CONFIG);
    }
  });

  it("fill in the keys a file leaves out, and are not changed by parsing", () => {
    expect(config("parallel: 4")).toEqual({ ...DEFAULT_REPO_CONFIG, parallel: 4 });
    expect(DEFAULT_REPO_CONFIG.parallel).toBe(1);
  });
});

describe("keys", () => {
  it("reads a full file", () => {
    const text = [
      "# Bisect Bot",
      "command: npm test",
      "workflow: bisect-ci.yaml",
      "parallel: 8",
      "timeout: 45m",
      "step_timeout: 10m",
      "flaky: true",
      "find_fix: true",
      "confirm: 2",
      "confidence: 0.95",
      "first_parent: true",
      "max_commits: 500000",
      "runners: 7",
      "max_runner_minutes: 600",
      "setup: npm ci",
    ].join("\n");
    expect(config(text)).toEqual({
      command: "npm test",
      workflow: "bisect-ci.yaml",
      parallel: 8,
      timeoutSeconds: 2700,
      stepTimeoutSeconds: 600,
      confidence: 0.95,
      flaky: true,
      findFix: true,
      confirm: 2,
      firstParent: true,
      maxCommits: 500000,
      runners: 7,
      maxRunnerMinutes: 600,
      setup: "npm ci",
      auto: null,
      maxAutoBisectsPerDay: 10,
    });
  });

  it("reads multi-line commands from block scalars, without the trailing newline", () => {
    const text = "command: |\n  npm ci\n  npm test -- --runInBand\nsetup: >-\n  pip install\n  -e .\n";
    expect(config(text)).toMatchObject({ command: "npm ci\nnpm test -- --runInBand", setup: "pip install -e ." });
  });

  it("keeps shell text verbatim: it is the repository's own command", () => {
    expect(config(`command: 'test "$(uname)" = Linux && make \`echo check\`'`).command).toBe('test "$(uname)" = Linux && make `echo check`');
  });

  it.each([
    ["timeout: 90s", 90],
    ["timeout: 1h30m", 5400],
    ["timeout: 6h", 21600],
    ["timeout: 600", 600],
    ["timeout: '600'", 600],
    ["timeout: 60", 60],
  ])("reads %s as %i seconds", (text, seconds) => {
    expect(config(text).timeoutSeconds).toBe(seconds);
  });

  it("reads false booleans, CRLF files, flow mappings, quoted keys and anchors", () => {
    expect(config("flaky: false\r\nfirst_parent: false\r\n")).toEqual(DEFAULT_REPO_CONFIG);
    expect(config("{ parallel: 2, flaky: true }")).toMatchObject({ parallel: 2, flaky: true });
    expect(config('"parallel": 3')).toMatchObject({ parallel: 3 });
    expect(config("command: &cmd make test\nsetup: *cmd")).toMatchObject({ command: "make test", setup: "make test" });
  });

  it("lets command, setup and timeout be left empty (the default)", () => {
    expect(config("command:\nsetup: ~\ntimeout: null")).toEqual(DEFAULT_REPO_CONFIG);
  });
});

describe("the options come from the options table", () => {
  it("has a key for every option on the config surface, spelled with underscores", () => {
    expect(CONFIG_OPTION_KEYS).toEqual(optionsOn("config"));
    expect(CONFIG_OPTION_KEYS.map((key) => configKey(OPTIONS[key]))).toEqual([
      "first_parent",
      "flaky",
      "find_fix",
      "parallel",
      "runners",
      "confidence",
      "timeout",
      "step_timeout",
      "confirm",
    ]);
    // A timeout the file does not give is the App's (BISECT_TIMEOUT_SECONDS); the others are the options' own.
    for (const key of CONFIG_OPTION_KEYS) expect(DEFAULT_REPO_CONFIG[key], key).toBe(key === "timeoutSeconds" ? null : OPTIONS[key].default);
  });

  // Just inside and just outside each end of every range.
  it.each([
    ["parallel: 1", { parallel: 1 }],
    ["parallel: 64", { parallel: 64 }],
    ["runners: 1", { runners: 1 }],
    ["runners: 32", { runners: 32 }],
    ["max_runner_minutes: 1", { maxRunnerMinutes: 1 }],
    ["max_runner_minutes: 44640", { maxRunnerMinutes: 44640 }],
    ["max_runner_minutes:", {}],
    ["confidence: 0.501", { confidence: 0.501 }],
    ["confidence: 0.999999", { confidence: 0.999999 }],
    ["timeout: 60", { timeoutSeconds: 60 }],
    ["timeout: 1m", { timeoutSeconds: 60 }],
    ["timeout: 21600", { timeoutSeconds: 21600 }],
    ["timeout: 6h", { timeoutSeconds: 21600 }],
    ["step_timeout: 0", { stepTimeoutSeconds: 0 }],
    ["step_timeout: 1", { stepTimeoutSeconds: 1 }],
    ["step_timeout: '0s'", { stepTimeoutSeconds: 0 }],
    ["step_timeout: 21600", { stepTimeoutSeconds: 21600 }],
    ["step_timeout: 5h59m59s", { stepTimeoutSeconds: 21599 }],
    ["flaky: true", { flaky: true }],
    ["first_parent: true", { firstParent: true }],
  ])("accepts %s", (text, fields) => {
    expect(config(text)).toEqual({ ...DEFAULT_REPO_CONFIG, ...fields });
  });

  it.each([
    "parallel: 0",
    "parallel: 65",
    "runners: 0",
    "runners: 33",
    "confidence: 0.5",
    "confidence: 1",
    "timeout: 59",
    "timeout: 59s",
    "timeout: 21601",
    "timeout: 6h1s",
    "step_timeout: -1",
    "step_timeout: 21601",
    "step_timeout: 6h0m1s",
  ])("refuses %s, naming the value", (text) => {
    const [key, value] = text.split(": ");
    expect(refused(text).message).toBe(
      `\`.github/bisect.yml\` line 1: \`${key}\` must be ${OPTIONS[CONFIG_OPTION_KEYS.find((k) => configKey(OPTIONS[k]) === key)!].rule}, got \`${value}\`.`,
    );
  });
});

describe("max_runner_minutes", () => {
  it.each(["0", "1.5", "-5", "44641", "'ten'"])("refuses %s, naming the value and the rule", (value) => {
    expect(refused(`max_runner_minutes: ${value}`).message).toBe(
      `\`.github/bisect.yml\` line 1: \`max_runner_minutes\` must be a whole number of minutes from 1 to 44640, got \`${value.replaceAll("'", "")}\`.`,
    );
  });

  it("is found from the names people reach for", () => {
    expect(refused("budget: 100").message).toContain("did you mean `max_runner_minutes`?");
    expect(refused("matrix: 7").message).toContain("did you mean `runners`?");
  });
});

describe("errors", () => {
  it("say the line, key, value and fix for a value out of range", () => {
    expect(refused("# settings\n\nparallel: 100")).toEqual({
      message: "`.github/bisect.yml` line 3: `parallel` must be a whole number from 1 to 64, got `100`.",
      line: 3,
    });
  });

  it.each([
    ["parallel: 0", 1, "`parallel` must be a whole number from 1 to 64, got `0`."],
    ["parallel: 2.5", 1, "`parallel` must be a whole number from 1 to 64, got `2.5`."],
    ["parallel: '4'", 1, "`parallel` must be a whole number from 1 to 64, got `4`."],
    ["flaky: true\nparallel: [1, 2]", 2, "`parallel` must be a whole number from 1 to 64, got a list."],
    ["timeout: 30", 1, "`timeout` must be a duration from 1m to 6h, such as 90s, 30m, 1h30m or 900 (seconds), got `30`."],
    ["timeout: 7h", 1, "got `7h`."],
    ["timeout: 1.5h", 1, "got `1.5h`."],
    ["timeout: 90.5", 1, "got `90.5`."],
    ["timeout: true", 1, "got `true`."],
    ["flaky: yes", 1, "`flaky` must be true or false, got `yes`."],
    ["first_parent: 1", 1, "`first_parent` must be true or false, got `1`."],
    ["confidence: 99%", 1, "`confidence` must be a probability above 0.5 and below 1, such as 0.99, got `99%`."],
    ["confidence: '0.9'", 1, "`confidence` must be a probability above 0.5 and below 1, such as 0.99, got `0.9`."],
    ["step_timeout: 7h", 1, "`step_timeout` must be a duration up to 6h, such as 90s, 10m or 600 (seconds); 0 for no limit, got `7h`."],
    [
      "step_timeout:",
      1,
      "`step_timeout` has no value; it must be a duration up to 6h, such as 90s, 10m or 600 (seconds); 0 for no limit. Remove the line to use the default.",
    ],
    ["max_commits: 0", 1, "`max_commits` must be a whole number from 1 to 1000000, got `0`."],
    ["max_commits: 1000001", 1, "got `1000001`."],
    ["max_commits: 1,000", 1, "got `1,000`."],
    ["workflow: bisect", 1, "`workflow` must be the file name of a workflow in `.github/workflows/`, such as `bisect.yml`, got `bisect`."],
    ["workflow: ../../evil.yml", 1, "`workflow` is a file name in `.github/workflows/`, not a path: write `workflow: evil.yml`, got `../../evil.yml`."],
    ["workflow: .github/workflows/bisect.yml", 1, "write `workflow: bisect.yml`"],
    ["workflow: 'my flow.yml'", 1, "got `my flow.yml`."],
    ["command: 42", 1, "`command` must be the test command as text, such as `command: npm test`, got `42`."],
    ["command:\n  run: npm test", 2, "`command` must be the test command as text, such as `command: npm test`, got a mapping."],
    ["command: '   '", 1, "`command` is empty; write a command, or remove the line to have none."],
    ['setup: "npm ci\\u0000"', 1, "`setup` contains the control character U+0000 at line 1, column 7; only tabs and newlines are allowed."],
    ["setup: false", 1, "`setup` must be a command as text, run before each test, such as `setup: npm ci`, got `false`."],
    [
      "workflow:",
      1,
      "`workflow` has no value; it must be the file name of a workflow in `.github/workflows/`, such as `bisect.yml`. Remove the line to use the default.",
    ],
    ["max_commits: ~", 1, "`max_commits` has no value"],
  ])("%j → line %i: %s", (text, line, message) => {
    const result = refused(text);
    expect(result.line).toBe(line);
    expect(result.message).toContain(message);
    expect(result.message.startsWith(`\`.github/bisect.yml\` line ${line}: `)).toBe(true);
  });

  it("refuse a command over the length limit", () => {
    const result = refused(`parallel: 2\ncommand: ${"x".repeat(16385)}`);
    expect(result.line).toBe(2);
    expect(result.message).toContain("`command` is 16385 characters long; the limit is 16384.");
  });

  it("point at the value's own line when it is below its key", () => {
    expect(refused("parallel:\n  100").line).toBe(2);
  });

  it.each([
    ["paralel: 4", "did you mean `parallel`?"],
    ["firstParent: true", "did you mean `first_parent`?"],
    ["first-parent: true", "did you mean `first_parent`?"],
    ["maxCommits: 10", "did you mean `max_commits`?"],
    ["timeout_seconds: 600", "did you mean `timeout`?"],
    ["stepTimeout: 10m", "did you mean `step_timeout`?"],
    ["step-timeout: 10m", "did you mean `step_timeout`?"],
    ["test_timeout: 10m", "did you mean `step_timeout`?"],
    ["confidance: 0.9", "did you mean `confidence`?"],
    ["test: npm test", "did you mean `command`?"],
    ["flakey: true", "did you mean `flaky`?"],
    ["Workflow: bisect.yml", "did you mean `workflow`?"],
  ])("suggest the closest key for %j", (text, hint) => {
    const result = refused(`# settings\n${text}`);
    expect(result.line).toBe(2);
    expect(result.message).toBe(`\`.github/bisect.yml\` line 2: unknown key \`${text.split(":")[0]}\`; ${hint}`);
  });

  it("list the keys when no key is close", () => {
    const result = refused("parallel: 2\nnotifications: slack");
    expect(result.line).toBe(2);
    expect(result.message).toBe(
      "`.github/bisect.yml` line 2: unknown key `notifications`; the keys are `command`, `setup`, `workflow`, `max_commits`, `max_runner_minutes`, `max_auto_bisects_per_day`, `auto`, `first_parent`, `flaky`, `find_fix`, `parallel`, `runners`, `confidence`, `timeout`, `step_timeout`, `confirm`.",
    );
  });

  it("refuse keys that are not names", () => {
    expect(refused("? [a, b]\n: 1").message).toContain("keys are plain names such as `parallel`");
    expect(refused("1: x").message).toContain("unknown key `1`");
  });

  it("give the line of a YAML syntax error", () => {
    const result = refused("parallel: 2\nflaky: true\ncommand: [npm test\nsetup: npm ci\n");
    expect(result.line).toBeGreaterThanOrEqual(3);
    expect(result.message).toMatch(/^`\.github\/bisect\.yml` line \d+: this is not valid YAML \(.+\)\. Check the indentation and quotes on that line\.$/);
    const tab = refused("parallel: 2\n\tflaky: true");
    expect(tab.line).toBe(2);
    expect(refused('command: "unterminated\n').line).toBe(1);
    expect(refused("parallel: 2\ncommand: 'unterminated\nsetup: x\n\n").line).toBe(2);
  });

  it("name a key given twice, at its second line", () => {
    expect(refused("parallel: 2\nflaky: true\nparallel: 3")).toEqual({
      message: "`.github/bisect.yml` line 3: `parallel` appears twice; keep one.",
      line: 3,
    });
  });

  it("refuse several documents", () => {
    const result = refused("parallel: 2\n---\nparallel: 3\n");
    expect(result.line).toBe(2);
    expect(result.message).toContain("not valid YAML");
  });

  it.each([
    ["- parallel: 2", "it holds a list."],
    ["npm test", "it holds the value `npm test`."],
    ["42", "it holds the value `42`."],
  ])("refuse a file that is not a mapping (%j) at line 1", (text, holds) => {
    const result = refused(text);
    expect(result.line).toBe(1);
    expect(result.message).toBe(`\`.github/bisect.yml\` line 1: the file must be a mapping of keys to values, such as \`parallel: 4\`; ${holds}`);
  });

  it("stay short and safe for hostile values", () => {
    const result = refused(`workflow: "${"`".repeat(5)}${"a".repeat(5000)}"`);
    expect(result.message.length).toBeLessThan(400);
    expect(result.message).toContain("``````");
  });

  it("survive alias bombs", () => {
    const bomb = [
      "a: &a [x, x, x, x, x, x, x, x, x]",
      "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
      "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
    ].join("\n");
    expect(refused(bomb).message).toContain("unknown key `a`");
  });
});

describe("automatic bisects (auto:)", () => {
  it("reads the workflows, the command, runners and confirm (1 unless set), and the day's budget", () => {
    expect(config("auto:\n  workflows: [ci.yml, lint.yml]\n  command: npm test\n  runners: 3\nmax_auto_bisects_per_day: 4")).toMatchObject({
      auto: { workflows: ["ci.yml", "lint.yml"], command: "npm test", runners: 3, confirm: 1 },
      maxAutoBisectsPerDay: 4,
    });
    // One workflow may be written alone; the command may be the file's own; confirm 0 turns re-runs off.
    expect(config("command: make check\nauto: {workflows: ci.yml, confirm: 0}")).toMatchObject({
      command: "make check",
      auto: { workflows: ["ci.yml"], command: null, runners: 1, confirm: 0 },
    });
    expect(config("auto:\n")).toMatchObject({ auto: null });
  });

  it.each([
    ["auto: yes", 1, "`auto` must be a mapping such as `auto: {workflows: [ci.yml], command: npm test}`, got `yes`."],
    [
      "auto: {command: npm test}",
      1,
      "`auto` needs `workflows`: the workflow files whose failures on the default branch start a bisect, such as `workflows: [ci.yml]`.",
    ],
    ["auto: {workflows: [ci.yml]}", 1, "`auto` needs a test command: write `command:` under `auto:` (or at the top of the file)."],
    [
      "auto:\n  workflows: [.github/workflows/ci.yml]\n  command: x",
      2,
      "`auto.workflows` holds workflow file names; write `ci.yml`, the file name in `.github/workflows/`, got `.github/workflows/ci.yml`.",
    ],
    [
      "workflow: bisect.yml\nauto: {workflows: [bisect.yml], command: x}",
      2,
      "`auto.workflows` lists `bisect.yml`, the bisect workflow itself; list the workflows that test your code, such as `ci.yml`.",
    ],
    ["auto:\n  workflows: [ci.yml]\n  comand: x", 3, "unknown key `comand` under `auto`; did you mean `command`?"],
    ["auto:\n  workflows: [ci.yml]\n  command: x\n  runners: 0", 4, "`auto.runners` must be"],
    ["max_auto_bisects_per_day: -1", 1, "`max_auto_bisects_per_day` must be a whole number from 0 to 1000, got `-1`."],
  ])("refuses %j with the line and the fix", (text, line, message) => {
    const result = refused(text);
    expect(result.line).toBe(line);
    expect(result.message).toContain(`\`.github/bisect.yml\` line ${line}: ${message}`);
  });
});
