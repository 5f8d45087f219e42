/**
 * Text that came from a run or a commit (subjects, author names, pull request titles, error
 * messages) shown in a comment as plain prose, outside code spans. GitHub renders a comment in two
 * passes: Markdown (with HTML and GFM extensions, math included), then filters over the rendered
 * text that turn `@login`, `@org/team`, `#123`, `GH-123` and `owner/repo#123` into mentions and
 * links. So a backslash is not enough: a backslash-escaped `\#1` still renders as the text `#1`,
 * which the second pass links. Those are broken with a zero-width space instead (`&#8203;`, shown
 * as nothing), which keeps the text readable and unlinked.
 */

/** The zero-width space, as an entity so it is visible in the comment's source. */
const ZWSP = "&#8203;";

/**
 * Backslash-escaped wherever they appear: every character Markdown, GFM or GitHub's math reads as
 * markup. `:` and `.` too, so `https://…` and `www.…` in the text are not autolinked.
 */
const MARKUP = new Set(["\\", "`", "*", "_", "[", "]", "(", ")", "#", "+", "-", ".", "!", "|", "~", "$", ":"]);
/** HTML's own: entities, so no tag, comment or entity of the input survives. */
const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;" };

const WORD = /[A-Za-z0-9_]/;
const ALNUM = /[A-Za-z0-9]/;

/** C0 and C1 controls, bidirectional overrides and isolates: nothing a reader should get unseen. */
function hidden(c: number): boolean {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

/**
 * `text` with ANSI escape sequences (terminal colours) dropped and every other control character,
 * bidirectional override and lone surrogate replaced by U+FFFD; line breaks (as `\n`) and tabs
 * are kept. For text shown in a code block, where Markdown is inert but the characters are not.
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
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const next = normalized.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        out += normalized[i]! + normalized[i + 1]!;
        i++;
      } else {
        out += "\ufffd";
      }
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      out += "\ufffd";
    } else {
      out += normalized[i]!;
    }
  }
  return out;
}

/**
 * One line of printable text (printableText, then line breaks, tabs and other breaking spaces
 * become one space each run) with the ends trimmed: leading spaces would indent into a code block.
 */
function oneLine(text: string): string {
  return printableText(text.replace(/[\v\f\u0085\u2028\u2029]/g, "\n"))
    .replace(/[\n\t ]+/g, " ")
    .trim();
}

/** `text` cut to `max` characters (at least 1), ending in `…` when cut; never splits a surrogate pair. */
function cap(text: string, max: number): string {
  const limit = Math.max(1, Math.floor(max));
  if (text.length <= limit) return text;
  let end = limit - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end).trimEnd()}…`;
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
 * - References: `#123`, `owner/repo#123` and `GH-123` get a zero-width space before the number.
 */
export function escapeMarkdown(text: string, max = 300): string {
  const line = cap(oneLine(text), max);
  let out = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    const next = line[i + 1] ?? "";
    const previous = line[i - 1] ?? "";
    if (c === "@") {
      // After a word character an @ is an e-mail address and stays readable, unless a commit id
      // follows (`owner/repo@<sha>` and `user@<sha>` are cross-repository commit links).
      const commitRef = /^[0-9a-f]{7,}/i.test(line.slice(i + 1, i + 8));
      out += WORD.test(previous) && !commitRef ? "@" : `@${ALNUM.test(next) ? ZWSP : ""}`;
    } else if (c === "#") {
      out += `\\#${/[0-9]/.test(next) ? ZWSP : ""}`;
    } else if (c === "-" && /[0-9]/.test(next) && /(?:^|[^A-Za-z0-9_])gh$/i.test(line.slice(Math.max(0, i - 3), i))) {
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
