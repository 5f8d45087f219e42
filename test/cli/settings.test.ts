/**
 * `bisect-bot run`'s flags come from the option definitions (action/src/options.ts): the same
 * names, ranges, defaults and help as every other surface, and messages built from each rule.
 */
import { describe, expect, it } from "vitest";
import { parseCli, USAGE, UsageError, type CliSettings } from "../../action/src/cli/settings.js";
import { flagSyntax, OPTIONS, optionsOn } from "../../action/src/options.js";

const RUN = ["run", "--good", "v1.4", "--bad", "main"];

function settings(...flags: string[]): CliSettings {
  const parsed = parseCli([...RUN, ...flags, "--", "npm", "test"]);
  if (parsed === "help" || parsed === "version") throw new Error(`expected settings, got ${parsed}`);
  return parsed;
}

function usageError(...flags: string[]): string {
  try {
    settings(...flags);
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  throw new Error(`${flags.join(" ")} was accepted`);
}

describe("bisect-bot run: options from their one definition", () => {
  it("has a flag for every option on the CLI surface, and none for the others", () => {
    expect(optionsOn("cli")).toEqual(["firstParent", "flaky", "findFix", "parallel", "confidence", "stepTimeoutSeconds", "confirm", "verify"]);
    expect(usageError("--timeout", "30m")).toBe("Unknown option '--timeout'.");
  });

  it.each(optionsOn("cli"))("%s: the usage text lists its flag and help; left out, it takes the definition's default", (key) => {
    const definition = OPTIONS[key];
    const flat = USAGE.replace(/\s+/g, " ");
    expect(flat).toContain(` ${flagSyntax(definition)} ${definition.help}`);
    if (definition.kind !== "switch") expect(flat).toContain(`${definition.rule.slice(1)}; default ${String(definition.default)}.`);
    const values: Record<string, unknown> = settings();
    expect(values[key]).toBe(definition.default);
  });

  it("reads every value with the option's own schema", () => {
    expect(settings("--first-parent", "--flaky", "--verify")).toMatchObject({ firstParent: true, flaky: true, verify: true });
    expect(settings("--parallel", "64").parallel).toBe(64);
    expect(settings("--flaky", "--confidence", ".95").confidence).toBe(0.95);
  });

  it("--step-timeout takes a duration: 90s, 10m, 1h30m, plain seconds, and 0 for no limit, up to 6h", () => {
    expect(["90s", "10m", "1h30m", "600", "0", "6h"].map((d) => settings("--step-timeout", d).stepTimeoutSeconds)).toEqual([90, 600, 5400, 600, 0, 21600]);
    const rule = "expected a duration up to 6h, such as 90s, 10m or 600 (seconds); 0 for no limit.";
    expect(usageError("--step-timeout", "6h1s")).toBe(`Invalid --step-timeout '6h1s': ${rule}`);
    expect(usageError("--step-timeout", "1.5")).toBe(`Invalid --step-timeout '1.5': ${rule}`);
    expect(usageError("--step-timeout", "10 minutes")).toBe(`Invalid --step-timeout '10 minutes': ${rule}`);
  });

  it.each([
    [["--parallel", "0"], "Invalid --parallel '0': expected a whole number from 1 to 64."],
    [["--parallel", "65"], "Invalid --parallel '65': expected a whole number from 1 to 64."],
    [["--parallel", "2.5"], "Invalid --parallel '2.5': expected a whole number from 1 to 64."],
    [["--flaky", "--confidence", "1"], "Invalid --confidence '1': expected a probability above 0.5 and below 1, such as 0.99."],
    [["--flaky", "--confidence", "0.5"], "Invalid --confidence '0.5': expected a probability above 0.5 and below 1, such as 0.99."],
    [["--flaky", "--confidence", "99%"], "Invalid --confidence '99%': expected a probability above 0.5 and below 1, such as 0.99."],
    [["--confidence", "0.9"], "--confidence 0.9 only applies with --flaky: a deterministic bisect is exact."],
  ])("%j: %s", (flags, message) => {
    expect(usageError(...flags)).toBe(message);
  });

  it("keeps its own flags: -C, --json, --verbose, help", () => {
    expect(settings("-C", "/tmp/repo", "--json", "--verbose")).toMatchObject({ dir: "/tmp/repo", json: true, verbose: true });
    expect(parseCli(["run", "--help"])).toBe("help");
    expect(parseCli(["--version"])).toBe("version");
    expect(parseCli(["-V"])).toBe("version");
    // After --, it is the test command's flag.
    expect(parseCli(["run", "--good", "a", "--bad", "b", "--", "node", "--version"])).not.toBe("version");
    for (const flag of ["-C <dir>", "--good <ref>", "--bad <ref>", "--json", "--verbose", "-h, --help"]) expect(USAGE).toContain(`  ${flag} `);
  });

  it("wraps the usage text at 100 columns", () => {
    for (const line of USAGE.split("\n")) expect(line.length, line).toBeLessThanOrEqual(100);
  });
});
