/**
 * Text from users, commits and runs goes into our comments only through this module, with one set
 * of rules:
 *
 * - Code (codeSpan, codeBlock): shown literally. The fence is longer than any run of backticks in
 *   the text, so the text cannot close it; control characters become U+FFFD; a span is one line.
 * - Prose (escapeMarkdown): no mention, link, autolink, HTML, heading, list, emphasis, math or
 *   issue reference survives, and the text reads the same.
 * - Links (escapeUrl, link): only to absolute https URLs without credentials or characters that
 *   could end the link.
 * - Length (truncate): cut with `…`, never in the middle of a surrogate pair.
 * - Tables (table): no cell can split its row, whatever it holds.
 *
 * GitHub renders a comment in two passes: Markdown (CommonMark with GFM's tables, autolinks,
 * strikethrough, footnotes and math, plus HTML), then filters over the rendered text that turn
 * `@login`, `@org/team`, `#123`, `GH-123`, `owner/repo#123` and `owner/repo@sha` into mentions and
 * links. A backslash is not enough against the second pass (`\#1` renders as `#1`, which is then
 * linked), so those are broken with a zero-width space instead (`&#8203;`, shown as nothing).
 */

/** The zero-width space, as an entity so it is visible in the comment's source. */
const ZWSP = "&#8203;";

/**
 * Backslash-escaped wherever they appear in prose: every character Markdown, GFM or GitHub's math
 * reads as markup. `:` and `.` too, so `https://…` and `www.…` in the text are not autolinked.
 */
const MARKUP = new Set(["\\", "`", "*", "_", "[", "]", "(", ")", "#", "+", "-", ".", "!", "|", "~", "$", ":"]);
/** HTML's own: entities, so no tag, comment or entity of the input survives. */
const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;" };

const WORD = /[A-Za-z0-9_]/;
const ALNUM = /[A-Za-z0-9]/;

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** C0 and C1 controls, bidirectional overrides and isolates: nothing a reader should get unseen. */
function hidden(c: number): boolean {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/**
 * `text` cut to at most `max` UTF-16 code units (at least 1), ending in `…` when something was
 * cut; a surrogate pair (an emoji, say) is never split.
 * @example truncate("abcdef", 4) === "abc…"
 */
export function truncate(text: string, max: number): string {
  const limit = Math.max(1, Math.floor(max));
  if (text.length <= limit) return text;
  let end = limit - 1;
  if (end > 0 && isHighSurrogate(text.charCodeAt(end - 1))) end -= 1;
  return `${text.slice(0, end)}…`;
}

/** "U+0007": how a message names a character that cannot be shown. */
export function codePoint(c: number): string {
  return `U+${c.toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * `text` with ANSI escape sequences (terminal colours) dropped and every other control character,
 * bidirectional override and lone surrogate replaced by U+FFFD; line breaks (as `\n`) and tabs are
 * kept. For text shown as code, where Markdown is inert but these characters are not.
 */
export function printableText(text: string): string {
  const normalized = text.replace(/\r\n?/g, "\n");
  let out = "";
  for (let i = 0; i < normalized.length; i++) {
    const c = normalized.charCodeAt(i);
    if (c === 0x1b) {
      // CSI: ESC [ parameters… intermediates… final byte (0x40–0x7e); any other ESC pair is dropped too.
      if (normalized[i + 1] === "[") {
        let j = i + 2;
        while (j < normalized.length && (normalized.charCodeAt(j) < 0x40 || normalized.charCodeAt(j) > 0x7e)) j++;
        i = j;
      } else {
        i++;
      }
    } else if (c === 0x0a || c === 0x09) {
      out += normalized[i]!;
    } else if (hidden(c)) {
      out += "\ufffd";
    } else if (isHighSurrogate(c) && isLowSurrogate(normalized.charCodeAt(i + 1))) {
      out += normalized[i]! + normalized[i + 1]!;
      i++;
    } else if (isHighSurrogate(c) || isLowSurrogate(c)) {
      out += "\ufffd";
    } else {
      out += normalized[i]!;
    }
  }
  return out;
}

function longestRun(text: string, char: string): number {
  let longest = 0;
  let current = 0;
  for (const c of text) {
    current = c === char ? current + 1 : 0;
    if (current > longest) longest = current;
  }
  return longest;
}

/** Breaks that end a line anywhere (CommonMark's, and Unicode's that editors honour). */
const LINE_BREAKS = /[\n\v\f\u0085\u2028\u2029]/g;

/**
 * `text` (cut to `max` characters) as an inline code span on one line: line breaks and tabs become
 * spaces, other control characters U+FFFD; the fence is one backtick longer than the longest run
 * inside, padded when the text starts or ends with a backtick or with spaces on both ends. Empty
 * text is a span of one space.
 * @example codeSpan("a`b") === "``a`b``"
 */
export function codeSpan(text: string, max = 1000): string {
  const shown = printableText(truncate(text, max).replace(LINE_BREAKS, "\n")).replace(/[\n\t]/g, " ");
  if (shown === "") return "` `";
  const fence = "`".repeat(longestRun(shown, "`") + 1);
  const pad = shown.startsWith("`") || shown.endsWith("`") || (shown.startsWith(" ") && shown.endsWith(" ") && shown.trim() !== "") ? " " : "";
  return `${fence}${pad}${shown}${pad}${fence}`;
}

/**
 * `text` (cut to `max` characters) as a fenced code block: printableText, inside a fence of
 * backticks longer than any run in the text (at least 3). `language` is kept only when it is a
 * plain word such as `sh`.
 */
export function codeBlock(text: string, language = "", max = 10_000): string {
  const shown = printableText(truncate(text, max));
  const fence = "`".repeat(Math.max(3, longestRun(shown, "`") + 1));
  const info = /^[A-Za-z0-9_+-]{1,20}$/.test(language) ? language : "";
  return `${fence}${info}\n${shown}\n${fence}`;
}

/** The 7-character form of a commit id that people read. */
export function shortSha(sha: string): string {
  return sha.slice(0, 7);
}

/**
 * One line of printable text (printableText, then line breaks, tabs and other breaking spaces
 * become one space each run) with the ends trimmed: leading spaces would indent into a code block.
 */
function oneLine(text: string): string {
  return printableText(text.replace(LINE_BREAKS, "\n"))
    .replace(/[\n\t ]+/g, " ")
    .trim();
}

/**
 * `text` made safe to show as prose in a comment, on one line, cut to `max` characters of the
 * original (the escaped form is longer; what a reader sees is at most `max` characters).
 *
 * - Markup: `\ ` * _ [ ] ( ) # + - . ! | ~ $ :` are backslash-escaped, so there are no links,
 *   autolinks, images, emphasis, headings, lists, table cells, math or footnotes; line breaks
 *   become spaces.
 * - HTML: `&`, `<` and `>` become entities, so no tag, comment or entity of the input is ever raw.
 * - Mentions: an `@` that GitHub would read as a mention (`@octocat`, `@org/team`: not preceded
 *   by a letter, digit or `_`) gets a zero-width space after it; `mona@example.com` stays as is.
 * - References: `#123`, `owner/repo#123` and `GH-123` get a zero-width space before the number,
 *   and `owner/repo@<sha>` one after the `@`.
 */
export function escapeMarkdown(text: string, max = 300): string {
  const line = oneLine(text);
  const cut = truncate(line, max);
  // Trailing spaces before the ellipsis read as a gap: `word …` → `word…`.
  const shown = cut.length < line.length ? `${cut.slice(0, -1).trimEnd()}…` : cut;
  let out = "";
  for (let i = 0; i < shown.length; i++) {
    const c = shown[i]!;
    const next = shown[i + 1] ?? "";
    const previous = shown[i - 1] ?? "";
    if (c === "@") {
      // After a word character an @ is an e-mail address and stays readable, unless a commit id
      // follows (`owner/repo@<sha>` and `user@<sha>` are cross-repository commit links).
      const commitRef = /^[0-9a-f]{7,}/i.test(shown.slice(i + 1, i + 8));
      out += WORD.test(previous) && !commitRef ? "@" : `@${ALNUM.test(next) ? ZWSP : ""}`;
    } else if (c === "#") {
      out += `\\#${/[0-9]/.test(next) ? ZWSP : ""}`;
    } else if (c === "-" && /[0-9]/.test(next) && /(?:^|[^A-Za-z0-9_])gh$/i.test(shown.slice(Math.max(0, i - 3), i))) {
      out += `\\-${ZWSP}`;
    } else if (c in ENTITIES) {
      out += ENTITIES[c];
    } else if (MARKUP.has(c)) {
      out += `\\${c}`;
    } else {
      out += c;
    }
  }
  return out;
}

/** Hosts allowed over plain http: a local GitHub double in tests. */
const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * `url` when it is safe as a Markdown link target: an absolute `https://` URL (or `http://` to
 * 127.0.0.1 or localhost, for tests) with no credentials, spaces, quotes, angle brackets,
 * parentheses, backslashes, backticks or control characters; otherwise null.
 */
export function escapeUrl(url: string): string | null {
  if (url.length === 0 || url.length > 2000) return null;
  if (/[\s"'<>()\\`]/.test(url) || [...url].some((ch) => hidden(ch.charCodeAt(0)))) return null;
  if (!/^https?:\/\/[^/?#]/i.test(url)) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.username !== "" || parsed.password !== "") return null;
  if (parsed.protocol === "https:" && url.toLowerCase().startsWith("https://") && parsed.hostname !== "") return url;
  if (parsed.protocol === "http:" && url.toLowerCase().startsWith("http://") && LOCAL_HOSTS.has(parsed.hostname)) return url;
  return null;
}

/**
 * `[label](url)` when escapeUrl accepts `url`, else `label` alone. `label` is Markdown already
 * made safe (a code span, escaped prose).
 */
export function link(label: string, url: string | null): string {
  const safe = url === null ? null : escapeUrl(url);
  return safe === null ? label : `[${label}](${safe})`;
}

/** How a column's cells are aligned. */
export type Align = "left" | "center" | "right";

export interface Column {
  /** Markdown, like a cell. */
  title: string;
  align?: Align;
}

const DELIMITER: Record<Align | "none", string> = { none: "---", left: ":---", center: ":---:", right: "---:" };

/**
 * `markdown` made fit to stand in a table cell: one line, and no `|` that splits the row. GFM
 * splits a row on every `|` not escaped with a backslash, before it reads code spans, and then
 * removes that backslash (inside code spans too). So:
 *
 * - outside code spans, a `|` that is not escaped (escapeMarkdown's always are) gets one;
 * - inside code spans, every `|` gets one (GitHub removes it: the code reads the same), and when
 *   the code itself has a backslash right before it, a zero-width space goes between the two.
 */
function tableCell(markdown: string): string {
  const text = markdown.replace(/\r\n?|\n/g, " ");
  let out = "";
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "\\") {
      // A backslash escape outside code: both characters as they are.
      out += text.slice(i, i + 2);
      i += 2;
    } else if (c === "|") {
      out += "\\|";
      i++;
    } else if (c === "`") {
      let run = 1;
      while (text[i + run] === "`") run++;
      const close = closingRun(text, i + run, run);
      if (close === -1) {
        // No closing run: the backticks are text.
        out += text.slice(i, i + run);
        i += run;
        continue;
      }
      out += text.slice(i, i + run) + codeInCell(text.slice(i + run, close)) + text.slice(close, close + run);
      i = close + run;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Where a run of exactly `length` backticks starts at or after `from`, or -1. */
function closingRun(text: string, from: number, length: number): number {
  let i = from;
  while (i < text.length) {
    if (text[i] !== "`") {
      i++;
      continue;
    }
    let run = 0;
    while (text[i + run] === "`") run++;
    if (run === length) return i;
    i += run;
  }
  return -1;
}

/** A code span's content in a table cell: see tableCell. */
function codeInCell(code: string): string {
  let out = "";
  for (let i = 0; i < code.length; i++) {
    if (code[i] === "|") out += code[i - 1] === "\\" ? "\u200b\\|" : "\\|";
    else out += code[i];
  }
  return out;
}

function row(cells: readonly string[]): string {
  return `|${cells.map((cell) => (cell === "" ? " |" : ` ${cell} |`)).join("")}`;
}

/**
 * A GFM table. Every title and cell is Markdown already made safe (code spans, escaped prose,
 * links); the table makes it fit its cell (see tableCell), so no text can add a column or end
 * the row. Rows with fewer cells than columns are filled with empty ones; extra cells are dropped.
 * @example table(["", ""], [["Bad", codeSpan("feat|x")]])
 *   === "| | |\n| --- | --- |\n| Bad | `feat\\|x` |"
 */
export function table(columns: readonly (string | Column)[], rows: readonly (readonly string[])[]): string {
  const heads = columns.map((column) => (typeof column === "string" ? { title: column } : column));
  const width = heads.length;
  const fit = (cells: readonly string[]) => Array.from({ length: width }, (_, i) => tableCell(cells[i] ?? "").trim());
  return [row(fit(heads.map((head) => head.title))), row(heads.map((head) => DELIMITER[head.align ?? "none"])), ...rows.map((cells) => row(fit(cells)))].join(
    "\n",
  );
}
