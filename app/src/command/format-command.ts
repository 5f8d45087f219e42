/** Writing a command back as a comment line (and code block), the way parseComment reads it. */
import type { BisectCommand } from "./bisect-command.js";
import { formatDuration } from "./duration.js";

/** A fence that no line of `text` can close: one backtick longer than its longest run (at least 3). */
function fenceFor(text: string): string {
  let longest = 0;
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    run = text[i] === "`" ? run + 1 : 0;
    if (run > longest) longest = run;
  }
  return "`".repeat(Math.max(3, longest + 1));
}

/**
 * The comment that asks for `command`: one line, plus a fenced code block when the test command
 * spans several lines or starts or ends with whitespace.
 * @example formatBisectCommand({ kind: "bisect", range: { goods: ["v1.4"], bad: "main" }, options: { flaky: true }, command: "npm test" })
 *   === "/bisect v1.4..main --flaky -- npm test"
 */
export function formatBisectCommand(command: BisectCommand): string {
  if (command.kind !== "bisect") return `/bisect ${command.kind}`;
  const words = ["/bisect"];
  if (command.range) words.push(`${command.range.goods.join(",")}..${command.range.bad}`);
  const o = command.options;
  if (o.firstParent) words.push("--first-parent");
  if (o.flaky) words.push("--flaky");
  if (o.parallel !== undefined) words.push(`--parallel ${o.parallel}`);
  if (o.timeoutSeconds !== undefined) words.push(`--timeout ${formatDuration(o.timeoutSeconds)}`);
  if (o.confidence !== undefined) words.push(`--confidence ${o.confidence}`);
  const test = command.command;
  if (test === null) return words.join(" ");
  if (!test.includes("\n") && test.trim() === test) return `${words.join(" ")} -- ${test}`;
  const fence = fenceFor(test);
  return `${words.join(" ")}\n${fence}\n${test}\n${fence}`;
}
