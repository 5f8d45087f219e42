/**
 * One definition of each option (action/src/options.ts), four surfaces: every surface that has an
 * option accepts exactly its range, and reads a value to the same thing. The values come from the
 * definition itself (its bounds, and one step past them), and each goes through the surface's real
 * parser: `bisect-bot run` flags, the Action's inputs, `/bisect` comment flags, `.github/bisect.yml`.
 */
import { describe, expect, it } from "vitest";
import { readInputs } from "../action/src/action/inputs.js";
import { parseCli } from "../action/src/cli/settings.js";
import { OPTION_KEYS, OPTIONS, optionsOn, configKey, type OptionKey, type Surface } from "../action/src/options.js";
import { parseComment } from "../app/src/command/parse-command.js";
import { parseRepoConfig } from "../app/src/config/repo-config.js";

/** A value as a user writes it, and what it means (null: every surface must refuse it). */
interface Case {
  text: string;
  value: number | boolean | null;
}

/** The definition's bounds, and one step past each: accepted exactly when inside. */
function casesOf(key: OptionKey): Case[] {
  const definition = OPTIONS[key];
  switch (definition.kind) {
    case "switch":
      return [
        { text: "true", value: true },
        { text: "false", value: false },
      ];
    case "integer":
      return [
        { text: String(definition.min - 1), value: null },
        { text: String(definition.min), value: definition.min },
        { text: String(definition.max), value: definition.max },
        { text: String(definition.max + 1), value: null },
        { text: `${definition.min}.5`, value: null },
      ];
    case "probability":
      return [
        { text: String(definition.above), value: null },
        { text: String(definition.above + 0.001), value: definition.above + 0.001 },
        { text: String(definition.below - 0.001), value: definition.below - 0.001 },
        { text: String(definition.below), value: null },
      ];
    case "duration":
      return [
        ...(definition.min > 0 ? [{ text: `${definition.min - 1}s`, value: null }] : []),
        { text: `${definition.min}s`, value: definition.min },
        { text: String(definition.min), value: definition.min },
        { text: `${definition.max / 3600}h`, value: definition.max },
        { text: `${definition.max / 3600}h1s`, value: null },
        { text: String(definition.max + 1), value: null },
      ];
  }
}

/** What a surface makes of `text` for the option: its value, or null when it refuses it. */
type Reader = (key: OptionKey, text: string) => number | boolean | null;

/** A setting's value, when it is one an option can have. */
function valueIn(settings: Record<string, unknown>, key: OptionKey): number | boolean | null {
  const value = settings[key];
  return typeof value === "number" || typeof value === "boolean" ? value : null;
}

/** `--confidence` means something only with `--flaky`: the surfaces that insist get both. */
const needsFlaky = (key: OptionKey) => key === "confidence";

function flagWords(key: OptionKey, text: string): string[] {
  const definition = OPTIONS[key];
  const flag = `--${definition.name}`;
  if (definition.kind === "switch") return text === "true" ? [flag] : [];
  return [...(needsFlaky(key) ? ["--flaky"] : []), flag, text];
}

const READERS: Record<Surface, Reader> = {
  cli: (key, text) => {
    try {
      const settings = parseCli(["run", "--good", "v1.4", "--bad", "main", ...flagWords(key, text), "--", "npm", "test"]);
      return settings === "help" || settings === "version" ? null : valueIn(settings, key);
    } catch {
      return null;
    }
  },
  action: (key, text) => {
    const inputs: Record<string, string> = { good: "v1.4", bad: "main", command: "npm test", [OPTIONS[key].name]: text };
    try {
      return valueIn(
        readInputs((name) => inputs[name] ?? ""),
        key,
      );
    } catch {
      return null;
    }
  },
  comment: (key, text) => {
    const parsed = parseComment(`/bisect v1.4..main ${flagWords(key, text).join(" ")} -- npm test`);
    if (!parsed?.ok || parsed.command.kind !== "bisect") return null;
    // A switch left out is simply not given.
    return valueIn(parsed.command.options, key) ?? (OPTIONS[key].kind === "switch" ? false : null);
  },
  config: (key, text) => {
    const parsed = parseRepoConfig(`${configKey(OPTIONS[key])}: ${text}\n${needsFlaky(key) ? "flaky: true\n" : ""}`);
    if (!parsed.ok) return null;
    return valueIn(parsed.config, key);
  },
};

const SURFACES: Surface[] = ["cli", "action", "comment", "config"];

describe.each(OPTION_KEYS)("option %s", (key) => {
  const surfaces = SURFACES.filter((surface) => optionsOn(surface).some((k) => k === key));

  it("is on at least one surface", () => {
    expect(surfaces.length).toBeGreaterThan(0);
  });

  it.each(casesOf(key))("$text: every surface that has it reads it the same, or every one refuses it", ({ text, value }) => {
    const read = Object.fromEntries(surfaces.map((surface) => [surface, READERS[surface](key, text)]));
    const expected = Object.fromEntries(surfaces.map((surface) => [surface, value]));
    if (typeof value === "number" && !Number.isInteger(value)) {
      for (const surface of surfaces) expect(read[surface], surface).toBeCloseTo(value, 9);
    } else {
      expect(read).toEqual(expected);
    }
  });
});
