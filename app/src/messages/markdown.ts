/**
 * Text from users and from runs goes into our comments only through these helpers: inside a code
 * span or block nothing is a mention, a link or HTML, and the fence is longer than any run of
 * backticks in the text, so the text cannot close it.
 */

function longestRun(text: string, char: string): number {
  let longest = 0;
  let current = 0;
  for (const c of text) {
    current = c === char ? current + 1 : 0;
    if (current > longest) longest = current;
  }
  return longest;
}

/** `text` as an inline code span, on one line. */
export function codeSpan(text: string): string {
  const flat = text.replace(/[\r\n]+/g, " ");
  const fence = "`".repeat(longestRun(flat, "`") + 1);
  const pad = flat.startsWith("`") || flat.endsWith("`") || flat === "" ? " " : "";
  return `${fence}${pad}${flat}${pad}${fence}`;
}

/** `text` as a fenced code block. */
export function codeBlock(text: string, language = ""): string {
  const fence = "`".repeat(Math.max(3, longestRun(text, "`") + 1));
  return `${fence}${language}\n${text.replace(/\r\n?/g, "\n")}\n${fence}`;
}

/** Cuts `text` to `max` characters, marking the cut (one implementation, the grammar's). */
export { truncate } from "../command/markdown-text.js";

/** A short sha for display. */
export function shortSha(sha: string): string {
  return sha.slice(0, 7);
}
