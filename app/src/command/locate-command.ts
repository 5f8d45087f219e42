/**
 * Finding the `/bisect` line in a comment the way GitHub renders it: lines inside fenced code
 * blocks, `>` quotes and HTML comments are not commands. Also finds the fenced code block that
 * may follow the line and hold the test command.
 */

/** Whitespace as JavaScript's `\s` and `String.prototype.trim` see it. */
export function isSpace(c: number): boolean {
  return (
    c === 0x20 ||
    (c >= 0x09 && c <= 0x0d) ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/** Lines as CommonMark splits them: at `\r\n`, `\n` or a lone `\r`. */
export function splitLines(text: string): string[] {
  const lines: string[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a || c === 0x0d) {
      lines.push(text.slice(start, i));
      if (c === 0x0d && text.charCodeAt(i + 1) === 0x0a) i++;
      start = i + 1;
    }
  }
  lines.push(text.slice(start));
  return lines;
}

function leadingSpaces(line: string): number {
  let i = 0;
  while (i < line.length && isSpace(line.charCodeAt(i))) i++;
  return i;
}

function isBlank(line: string): boolean {
  return leadingSpaces(line) === line.length;
}

interface Fence {
  char: "`" | "~";
  length: number;
  indent: number;
}

/** A CommonMark fence opener: up to 3 spaces, then 3+ backticks or tildes and an optional info string. */
function openingFence(line: string): Fence | null {
  let indent = 0;
  while (indent < line.length && line[indent] === " ") indent++;
  if (indent > 3) return null;
  const char = line[indent];
  if (char !== "`" && char !== "~") return null;
  let end = indent;
  while (line[end] === char) end++;
  if (end - indent < 3) return null;
  if (char === "`" && line.includes("`", end)) return null; // inline code, not a fence
  return { char, length: end - indent, indent };
}

function closesFence(line: string, fence: Fence): boolean {
  let i = 0;
  while (i < line.length && line[i] === " ") i++;
  if (i > 3) return false;
  const start = i;
  while (line[i] === fence.char) i++;
  if (i - start < fence.length) return false;
  while (i < line.length && (line[i] === " " || line[i] === "\t")) i++;
  return i === line.length;
}

/** A content line of a fenced block loses up to as many leading spaces as the fence was indented. */
function unindent(line: string, indent: number): string {
  let i = 0;
  while (i < indent && line[i] === " ") i++;
  return line.slice(i);
}

const COMMAND_WORD = "/bisect";

/** The text after `/bisect` when it is the line's first word, else null. */
function afterCommandWord(line: string): string | null {
  const start = leadingSpaces(line);
  if (!line.startsWith(COMMAND_WORD, start)) return null;
  const after = start + COMMAND_WORD.length;
  if (after < line.length && !isSpace(line.charCodeAt(after))) return null;
  return line.slice(after);
}

export interface CommandLocation {
  /** The whole `/bisect` line, without its line ending. */
  line: string;
  /** What follows the word `/bisect` on that line. */
  rest: string;
  /**
   * The content of a fenced code block starting on the next non-blank line (an unclosed fence
   * runs to the end of the comment, as GitHub renders it), or null when there is none.
   */
  block: string | null;
}

/** The first `/bisect` line of a comment outside code blocks, quotes and HTML comments; null when there is none. */
export function locateCommand(body: string): CommandLocation | null {
  const lines = splitLines(body);
  let fence: Fence | null = null;
  let inHtmlComment = false;
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    if (fence) {
      if (closesFence(line, fence)) fence = null;
      continue;
    }
    if (inHtmlComment) {
      if (line.includes("-->")) inHtmlComment = false;
      continue;
    }
    const first = leadingSpaces(line);
    if (line[first] === ">") continue;
    if (line.startsWith("<!--", first)) {
      inHtmlComment = !line.includes("-->", first + 4);
      continue;
    }
    fence = openingFence(line);
    if (fence) continue;
    const rest = afterCommandWord(line);
    if (rest !== null) return { line, rest, block: blockAfter(lines, n + 1) };
  }
  return null;
}

function blockAfter(lines: string[], from: number): string | null {
  let n = from;
  while (n < lines.length && isBlank(lines[n]!)) n++;
  const fence = n < lines.length ? openingFence(lines[n]!) : null;
  if (!fence) return null;
  const content: string[] = [];
  for (n++; n < lines.length && !closesFence(lines[n]!, fence); n++) content.push(unindent(lines[n]!, fence.indent));
  let first = 0;
  let end = content.length;
  while (first < end && isBlank(content[first]!)) first++;
  while (end > first && isBlank(content[end - 1]!)) end--;
  return content.slice(first, end).join("\n");
}
