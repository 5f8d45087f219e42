/** Writing a command back as a comment line (and code block), the way parseComment reads it. */
import { formatDuration, OPTIONS, type OptionDefinition } from "../../../action/src/options.js";
import { COMMENT_OPTION_KEYS, type BisectCommand, type BisectOptions } from "./bisect-command.js";

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

/** An option's value as its flag takes it: `1h30m` for durations, the number otherwise. */
export function formatOptionValue(definition: OptionDefinition, value: number): string {
  return definition.kind === "duration" ? formatDuration(value) : String(value);
}

/** The flags that give `options`, in the options table's order: `--flaky --parallel 4`. */
export function formatOptions(options: BisectOptions): string[] {
  const words: string[] = [];
  for (const key of COMMENT_OPTION_KEYS) {
    const definition: OptionDefinition = OPTIONS[key];
    const value = options[key];
    if (value === undefined || value === false) continue;
    words.push(typeof value === "boolean" ? `--${definition.name}` : `--${definition.name} ${formatOptionValue(definition, value)}`);
  }
  return words;
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
  else if (command.run) words.push(`https://github.com/${command.run.owner}/${command.run.repo}/actions/runs/${command.run.runId}`);
  words.push(...formatOptions(command.options));
  const test = command.command;
  if (test === null) return words.join(" ");
  if (!test.includes("\n") && test.trim() === test) return `${words.join(" ")} -- ${test}`;
  const fence = fenceFor(test);
  return `${words.join(" ")}\n${fence}\n${test}\n${fence}`;
}
