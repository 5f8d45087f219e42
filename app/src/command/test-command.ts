/**
 * The test command a user gives (in a comment or in `.github/bisect.yml`). It is arbitrary shell
 * by design and travels only as a workflow input, so only what cannot travel is refused.
 */
import { codePoint } from "../messages/markdown.js";

export const MAX_COMMAND_LENGTH = 16384;

/** Line and column (1-based) of offset `at` in `text`. */
function position(text: string, at: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < at; i++) {
    if (text[i] === "\n") {
      line++;
      lineStart = i + 1;
    }
  }
  return `line ${line}, column ${at - lineStart + 1}`;
}

/**
 * Why `command` cannot be used (finishing "the test command …"), or null: longer than
 * MAX_COMMAND_LENGTH, or holding a control character other than tab and newline, or a lone
 * UTF-16 surrogate (which no JSON encoder can send).
 */
export function testCommandProblem(command: string): string | null {
  if (command.length > MAX_COMMAND_LENGTH) {
    return `is ${command.length} characters long; the limit is ${MAX_COMMAND_LENGTH}. Put a longer script in a file in the repository and run that file`;
  }
  for (let i = 0; i < command.length; i++) {
    const c = command.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a) || (c >= 0x7f && c <= 0x9f)) {
      return `contains the control character ${codePoint(c)} at ${position(command, i)}; only tabs and newlines are allowed`;
    }
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = command.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      return `contains a broken character (a lone surrogate ${codePoint(c)}) at ${position(command, i)}`;
    }
  }
  return null;
}
