/**
 * The replies a comment gets instead of a job (app/src/messages/replies.ts): `/bisect help` lists
 * every option of the options table, and the user's text stays quoted.
 */
import { describe, expect, it } from "vitest";
import { flagSyntax, OPTIONS, optionsOn } from "../../../action/src/options.js";
import { parseComment } from "../../../app/src/command/parse-command.js";
import { cancelledStatus, helpReply, statusReply } from "../../../app/src/messages/replies.js";
import { options, job } from "./fixtures.js";
import { githubCells, render, renderedRows, textOf } from "./render-markdown.js";

describe("/bisect help", () => {
  it("lists every comment option of the options table, with its help text and values", () => {
    const help = helpReply();
    const rows = renderedRows(render(help));
    const optionRows = rows.filter((row) => row[0]!.startsWith("<code>--"));
    expect(optionRows.map((row) => textOf(row[0]!))).toEqual(optionsOn("comment").map((key) => flagSyntax(OPTIONS[key])));
    for (const key of optionsOn("comment")) {
      const definition = OPTIONS[key];
      const row = optionRows.find((r) => textOf(r[0]!) === flagSyntax(definition))!;
      expect(textOf(row[1]!)).toBe(definition.help);
      expect(textOf(row[2]!)).toBe(definition.kind === "switch" ? "" : definition.rule);
    }
    expect(help).toContain("`--confidence <p>`");
    expect(help).toContain("`--step-timeout <duration>`");
  });

  it("is two well-formed tables: the commands, and the options with their values", () => {
    const help = helpReply();
    const [commands, options] = help.split("\n\n").filter((block) => block.startsWith("|"));
    for (const line of commands!.split("\n")) expect(githubCells(line), line).toBe(2);
    for (const line of options!.split("\n")) expect(githubCells(line), line).toBe(3);
    expect(renderedRows(render(commands!)).every((row) => row.length === 2)).toBe(true);
    expect(renderedRows(render(options!)).every((row) => row.length === 3)).toBe(true);
  });

  it("gives an example that parses", () => {
    const example = /as in `([^`]+)`/.exec(helpReply())![1]!;
    expect(parseComment(example)?.ok).toBe(true);
  });
});

describe("status and cancel", () => {
  it("link the run only when its URL is one we link to", () => {
    const run = "https://github.com/octo-org/widgets/actions/runs/1";
    expect(statusReply(job({ run_url: run }), null)).toContain(`[Workflow run](${run}).`);
    expect(statusReply(job({ run_url: "javascript:alert(1)" }), null)).not.toContain("javascript:");
    expect(cancelledStatus(job({ run_url: run }), "mona")).toContain(`Its [workflow run](${run}) is cancelled too.`);
    expect(cancelledStatus(job({ run_url: "javascript:alert(1)" }), "mona")).not.toContain("javascript:");
  });

  it("status names a fan-out's round, what it tests and the runner jobs so far", () => {
    const fanOut = { round: 3, round_commits: ["a", "b", "c"], runner_jobs: 17, options: options({ runners: 7 }) };
    expect(statusReply(job({ ...fanOut, state: "dispatched" }), null)).toContain("Round 3 on 7 runners a round, testing 3 commits; 17 runner jobs so far.");
    expect(statusReply(job({ ...fanOut, state: "succeeded" }), null)).toContain("Round 3 on 7 runners a round; 17 runner jobs so far.");
    expect(statusReply(job({ state: "dispatched" }), null)).not.toContain("Round");
  });

  it("quote the reason and the login", () => {
    const out = statusReply(job({ state: "failed", error: "@org/team <img src=x> `x`" }), 3);
    expect(out).toContain("Reason: `` @org/team <img src=x> `x` ``");
    expect(cancelledStatus(job(), "@org/team")).toContain("Cancelled by `@org/team`.");
  });
});
