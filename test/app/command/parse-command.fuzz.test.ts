/**
 * Fuzzing the `/bisect` grammar with a seeded generator (reproducible; set BISECT_FUZZ_SEED to
 * explore other seeds): random valid commands written in the many ways users write them parse
 * back to the same structure; mutations of them and random strings never throw, and every
 * refusal carries a message and an example that is itself accepted.
 */
import { describe, expect, it } from "vitest";
import { formatDuration, OPTIONS } from "../../../action/src/options.js";
import { bisectCommandSchema, type BisectCommand, type BisectOptions } from "../../../app/src/command/bisect-command.js";
import { formatBisectCommand } from "../../../app/src/command/format-command.js";
import { parseComment } from "../../../app/src/command/parse-command.js";
import { mulberry32 as prng } from "../../support/history.js";

const SEED = Number(process.env.BISECT_FUZZ_SEED ?? 20261128);

class Gen {
  constructor(readonly next: () => number) {}
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  /** `min` to `max` characters (code points, so an emoji stays whole) drawn from `alphabet`. */
  chars(alphabet: string, min: number, max: number): string {
    const symbols = Array.from(alphabet);
    let out = "";
    for (let n = this.int(min, max); n > 0; n--) out += symbols[Math.floor(this.next() * symbols.length)];
    return out;
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
const NAME_CHARS = `${LETTERS}-+=@`;
const HEX = "0123456789abcdef";

function randomRef(g: Gen): string {
  let name: string;
  if (g.chance(0.2)) {
    name = g.chars(HEX, 4, 40);
    if (g.chance(0.1)) name = g.chars(HEX, 64, 64);
  } else {
    const parts: string[] = [];
    for (let n = g.int(1, 3); n > 0; n--) {
      let part = g.chars(LETTERS, 1, 1) + g.chars(NAME_CHARS, 0, 7);
      if (g.chance(0.3)) part += `.${g.chars(LETTERS, 1, 4)}`;
      parts.push(part);
    }
    name = parts.join("/");
  }
  let suffix = "";
  for (let n = g.chance(0.3) ? g.int(1, 2) : 0; n > 0; n--) suffix += g.pick(["~", "^"]) + (g.chance(0.7) ? String(g.int(1, 30)) : "");
  return name + suffix;
}

const COMMAND_CHARS = `${LETTERS}  -_./$\`'"|&;<>(){}!#%*?[]~^,:=@\\é😀—\t`;

function randomCommandLine(g: Gen): string {
  let line = "";
  while (line.trim() === "") line = g.chars(COMMAND_CHARS, 1, 40);
  return line.trim();
}

function randomCommand(g: Gen): BisectCommand {
  if (g.chance(0.15)) return { kind: g.pick(["status", "cancel", "retry", "help"] as const) };
  let range: { goods: string[]; bad: string } | null = null;
  if (g.chance(0.8)) {
    const goods = new Set<string>();
    for (let n = g.int(1, 3); n > 0; n--) goods.add(randomRef(g));
    let bad = randomRef(g);
    while (goods.has(bad)) bad = randomRef(g);
    range = { goods: [...goods], bad };
  }
  const options: BisectOptions = {};
  if (g.chance(0.3)) options.firstParent = true;
  if (g.chance(0.3)) options.flaky = true;
  // Every value in the options table's ranges, their ends included.
  if (g.chance(0.3))
    options.parallel = g.chance(0.2) ? g.pick([OPTIONS.parallel.min, OPTIONS.parallel.max]) : g.int(OPTIONS.parallel.min, OPTIONS.parallel.max);
  if (g.chance(0.3))
    options.timeoutSeconds = g.chance(0.2)
      ? g.pick([OPTIONS.timeoutSeconds.min, OPTIONS.timeoutSeconds.max])
      : g.int(OPTIONS.timeoutSeconds.min, OPTIONS.timeoutSeconds.max);
  if (g.chance(0.3))
    options.stepTimeoutSeconds = g.chance(0.2)
      ? g.pick([OPTIONS.stepTimeoutSeconds.min, OPTIONS.stepTimeoutSeconds.max])
      : g.int(OPTIONS.stepTimeoutSeconds.min, OPTIONS.stepTimeoutSeconds.max);
  if (options.flaky && g.chance(0.5)) options.confidence = g.int(501, 999) / 1000;
  let command: string | null = null;
  if (g.chance(0.5)) command = randomCommandLine(g);
  else if (g.chance(0.4)) command = Array.from({ length: g.int(2, 4) }, () => randomCommandLine(g)).join("\n");
  return { kind: "bisect", range, options, command };
}

const PREFACES = [
  "Thanks for the report!",
  "> /bisect status",
  "```\n/bisect cancel\n```",
  "~~~~sh\n/bisect retry\n~~~~",
  "<!-- /bisect help -->",
  "<!--\n/bisect v1..v2\n-->",
  "Run /bisect v1..v2 please",
  "/bisectx",
];

function timeoutText(g: Gen, seconds: number): string {
  if (g.chance(0.3)) return String(seconds);
  if (g.chance(0.5)) return formatDuration(seconds);
  // The same duration with the zero units written out: 1h0m30s.
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${h}h${m}m${s}s`;
}

/** The comment a user might write for `command`: any word order, spacing, fence and line ending. */
function renderComment(g: Gen, command: BisectCommand): string {
  const eol = g.chance(0.3) ? "\r\n" : "\n";
  const space = () => g.pick([" ", "  ", "\t", " \t "]);
  const lines: string[] = [];
  for (let n = g.int(0, 2); n > 0; n--) lines.push(g.pick(PREFACES), "");
  const indent = g.pick(["", " ", "   ", "\t"]);
  if (command.kind !== "bisect") {
    lines.push(`${indent}/bisect${space()}${command.kind}${g.pick(["", " ", "\t"])}`);
    if (g.chance(0.3)) lines.push("```", "not the command", "```");
    return lines.join(eol);
  }
  const words: string[] = [];
  if (command.range) words.push(`${command.range.goods.join(",")}..${command.range.bad}`);
  const o = command.options;
  const valued = (flag: string, value: string) => (g.chance(0.5) ? `${flag}=${value}` : `${flag}${space()}${value}`);
  if (o.firstParent) words.push("--first-parent");
  if (o.flaky) words.push("--flaky");
  if (o.parallel !== undefined) words.push(valued("--parallel", String(o.parallel)));
  if (o.timeoutSeconds !== undefined) words.push(valued("--timeout", timeoutText(g, o.timeoutSeconds)));
  if (o.stepTimeoutSeconds !== undefined) words.push(valued("--step-timeout", timeoutText(g, o.stepTimeoutSeconds)));
  if (o.confidence !== undefined) words.push(valued("--confidence", String(o.confidence)));
  let line = `${indent}/bisect`;
  for (const word of g.shuffle(words)) line += space() + word;
  const test = command.command;
  const asBlock = test !== null && (test.includes("\n") || g.chance(0.4));
  if (test !== null && !asBlock) line += `${space()}--${space()}${test}${g.pick(["", " "])}`;
  else if (asBlock && g.chance(0.2)) line += `${space()}--`;
  lines.push(line);
  if (asBlock) {
    const char = g.pick(["`", "~"]);
    let longest = 0;
    for (const run of test.match(char === "`" ? /`+/g : /~+/g) ?? []) longest = Math.max(longest, run.length);
    const fence = char.repeat(Math.max(3, longest + 1, g.int(3, 5)));
    for (let n = g.int(0, 2); n > 0; n--) lines.push("");
    lines.push(`${fence}${g.pick(["", "sh", "bash", " shell", "console"])}`, ...test.split("\n"), fence);
  }
  if (g.chance(0.3)) lines.push("", "It broke last week.");
  return lines.join(eol);
}

const MUTATION_ALPHABET = [
  ..."-.~^,/@{}$`\n\r \t=:'\"\\;|&<>()!#%*?[]0123456789abcxyz",
  "é",
  "😀",
  "\u0000",
  "\u0007",
  "\ud800",
  "\udc00",
  "—",
  "–",
  "\u00a0",
  "\u2028",
  "\ufeff",
  "```",
  "~~~",
  "> ",
  "<!--",
  "-->",
  "..",
  "...",
  "--",
  " -- ",
];

function mutate(g: Gen, text: string): string {
  let out = text;
  for (let n = g.int(1, 4); n > 0; n--) {
    const at = g.int(0, out.length);
    const op = g.int(0, 2);
    if (op === 0) out = out.slice(0, at) + g.pick(MUTATION_ALPHABET) + out.slice(at);
    else if (op === 1) out = out.slice(0, at) + out.slice(at + g.int(1, 3));
    else out = out.slice(0, at) + g.pick(MUTATION_ALPHABET) + out.slice(at + 1);
  }
  return out;
}

function randomText(g: Gen): string {
  let out = g.chance(0.6) ? g.pick(["/bisect ", "/bisect", " /bisect\t", "/bisect --", "> /bisect "]) : "";
  for (let n = g.int(0, 60); n > 0; n--) out += g.pick(MUTATION_ALPHABET);
  return out;
}

/** What must hold for any comment at all. */
function checkAny(body: string): void {
  let result: ReturnType<typeof parseComment>;
  try {
    result = parseComment(body);
  } catch (error) {
    throw new Error(`parseComment threw on ${JSON.stringify(body)}: ${String(error)}`, { cause: error });
  }
  if (result === null) return;
  expect(result.line.length).toBeLessThanOrEqual(200);
  if (result.ok) {
    if (!bisectCommandSchema.safeParse(result.command).success) {
      throw new Error(`accepted an invalid command from ${JSON.stringify(body)}: ${JSON.stringify(result.command)}`);
    }
    return;
  }
  if (result.message.trim() === "" || result.example.trim() === "") throw new Error(`empty message or example for ${JSON.stringify(body)}`);
  if ([...result.message].some((ch) => ch.charCodeAt(0) < 0x20)) throw new Error(`control character in the message for ${JSON.stringify(body)}`);
  const again = parseComment(result.example);
  if (!again?.ok) {
    throw new Error(
      `the example ${JSON.stringify(result.example)} for ${JSON.stringify(body)} is refused: ${again ? (again as { message: string }).message : "not found"}`,
    );
  }
}

describe(`fuzzing parseComment (seed ${SEED})`, () => {
  it("parses random valid commands back to the same structure, however they are written", () => {
    const g = new Gen(prng(SEED));
    for (let i = 0; i < 8000; i++) {
      const command = randomCommand(g);
      const body = renderComment(g, command);
      const result = parseComment(body);
      if (!result?.ok) throw new Error(`refused ${JSON.stringify(body)}: ${JSON.stringify(result)}`);
      expect(result.command, JSON.stringify(body)).toEqual(command);
      // The module's own formatting reads back the same.
      expect(parseComment(formatBisectCommand(command))).toMatchObject({ ok: true, command });
    }
  });

  it("never throws on mutations of valid commands, and answers every refusal with a valid example", () => {
    const g = new Gen(prng(SEED + 1));
    for (let i = 0; i < 8000; i++) checkAny(mutate(g, renderComment(g, randomCommand(g))));
  });

  it("never throws on random strings", () => {
    const g = new Gen(prng(SEED + 2));
    for (let i = 0; i < 6000; i++) checkAny(randomText(g));
  });
});
