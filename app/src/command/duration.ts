/**
 * Durations as users write them (`90s`, `30m`, `1h30m`, `2h`, or plain seconds): one parser for
 * the `--timeout` flag and the `timeout` key of `.github/bisect.yml`.
 */

export const MIN_TIMEOUT_SECONDS = 60;
/** A job on a GitHub-hosted runner lasts at most 6 hours. */
export const MAX_TIMEOUT_SECONDS = 6 * 3600;
/** What a valid timeout looks like, for error messages. */
export const TIMEOUT_RULE = "a duration from 1m to 6h, such as `90s`, `30m`, `1h30m` or `900` (seconds)";

const UNITS = [
  ["h", 3600],
  ["m", 60],
  ["s", 1],
] as const;

/**
 * The number of seconds `text` stands for, or null when it is not a duration: digits alone are
 * seconds; otherwise whole numbers each followed by `h`, `m` or `s`, in that order, each unit once.
 * @example parseDuration("1h30m") === 5400
 */
export function parseDuration(text: string): number | null {
  if (text.length === 0 || text.length > 32) return null;
  let total = 0;
  let nextUnit = 0;
  let i = 0;
  while (i < text.length) {
    const start = i;
    while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
    if (i === start) return null;
    const amount = Number(text.slice(start, i));
    if (i === text.length) return start === 0 ? amount : null; // plain seconds, or a number missing its unit
    const unit = UNITS.findIndex(([name]) => name === text[i]);
    if (unit < nextUnit) return null;
    total += amount * UNITS[unit]![1];
    nextUnit = unit + 1;
    i++;
  }
  return total;
}

/** The shortest way to write `seconds` that parseDuration reads back: 5400 → `1h30m`. */
export function formatDuration(seconds: number): string {
  let rest = seconds;
  let out = "";
  for (const [name, size] of UNITS) {
    const amount = Math.floor(rest / size);
    rest -= amount * size;
    if (amount > 0) out += `${amount}${name}`;
  }
  return out === "" ? "0s" : out;
}

export type TimeoutResult =
  | { ok: true; seconds: number }
  | { ok: false; problem: "syntax" }
  | { ok: false; problem: "range"; seconds: number };

/** A timeout from a flag (text) or from YAML (text or a number of seconds), checked against 1m–6h. */
export function parseTimeout(value: string | number): TimeoutResult {
  const seconds = typeof value === "number" ? (Number.isInteger(value) ? value : null) : parseDuration(value.trim());
  if (seconds === null) return { ok: false, problem: "syntax" };
  if (seconds < MIN_TIMEOUT_SECONDS || seconds > MAX_TIMEOUT_SECONDS) return { ok: false, problem: "range", seconds };
  return { ok: true, seconds };
}
