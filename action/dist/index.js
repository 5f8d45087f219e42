import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);
import {
  GitCli,
  OPTIONS,
  SURFACES,
  errorMessage,
  external_exports,
  interruptedResult,
  optionValuesSchema,
  optionsOn,
  resolveRange,
  resultBase,
  runBisect,
  runnerOptions
} from "./shared-BPPMBT3U.js";

// node_modules/@actions/core/lib/command.js
import * as os from "os";

// node_modules/@actions/core/lib/utils.js
function toCommandValue(input) {
  if (input === null || input === void 0) {
    return "";
  } else if (typeof input === "string" || input instanceof String) {
    return input;
  }
  return JSON.stringify(input);
}
function toCommandProperties(annotationProperties) {
  if (!Object.keys(annotationProperties).length) {
    return {};
  }
  return {
    title: annotationProperties.title,
    file: annotationProperties.file,
    line: annotationProperties.startLine,
    endLine: annotationProperties.endLine,
    col: annotationProperties.startColumn,
    endColumn: annotationProperties.endColumn
  };
}

// node_modules/@actions/core/lib/command.js
function issueCommand(command, properties, message) {
  const cmd = new Command(command, properties, message);
  process.stdout.write(cmd.toString() + os.EOL);
}
function issue(name, message = "") {
  issueCommand(name, {}, message);
}
var CMD_STRING = "::";
var Command = class {
  constructor(command, properties, message) {
    if (!command) {
      command = "missing.command";
    }
    this.command = command;
    this.properties = properties;
    this.message = message;
  }
  toString() {
    let cmdStr = CMD_STRING + this.command;
    if (this.properties && Object.keys(this.properties).length > 0) {
      cmdStr += " ";
      let first = true;
      for (const key in this.properties) {
        if (this.properties.hasOwnProperty(key)) {
          const val = this.properties[key];
          if (val) {
            if (first) {
              first = false;
            } else {
              cmdStr += ",";
            }
            cmdStr += `${key}=${escapeProperty(val)}`;
          }
        }
      }
    }
    cmdStr += `${CMD_STRING}${escapeData(this.message)}`;
    return cmdStr;
  }
};
function escapeData(s) {
  return toCommandValue(s).replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}
function escapeProperty(s) {
  return toCommandValue(s).replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A").replace(/:/g, "%3A").replace(/,/g, "%2C");
}

// node_modules/@actions/core/lib/file-command.js
import * as crypto from "crypto";
import * as fs from "fs";
import * as os2 from "os";
function issueFileCommand(command, message) {
  const filePath = process.env[`GITHUB_${command}`];
  if (!filePath) {
    throw new Error(`Unable to find environment variable for file command ${command}`);
  }
  if (!fs.existsSync(filePath)) {
    throw new Error(`Missing file at path: ${filePath}`);
  }
  fs.appendFileSync(filePath, `${toCommandValue(message)}${os2.EOL}`, {
    encoding: "utf8"
  });
}
function prepareKeyValueMessage(key, value) {
  const delimiter = `ghadelimiter_${crypto.randomUUID()}`;
  const convertedValue = toCommandValue(value);
  if (key.includes(delimiter)) {
    throw new Error(`Unexpected input: name should not contain the delimiter "${delimiter}"`);
  }
  if (convertedValue.includes(delimiter)) {
    throw new Error(`Unexpected input: value should not contain the delimiter "${delimiter}"`);
  }
  return `${key}<<${delimiter}${os2.EOL}${convertedValue}${os2.EOL}${delimiter}`;
}

// node_modules/@actions/core/lib/core.js
import * as os4 from "os";

// node_modules/@actions/core/lib/summary.js
import { EOL as EOL3 } from "os";
import { constants, promises } from "fs";
var __awaiter = function(thisArg, _arguments, P, generator) {
  function adopt(value) {
    return value instanceof P ? value : new P(function(resolve) {
      resolve(value);
    });
  }
  return new (P || (P = Promise))(function(resolve, reject) {
    function fulfilled(value) {
      try {
        step(generator.next(value));
      } catch (e) {
        reject(e);
      }
    }
    function rejected(value) {
      try {
        step(generator["throw"](value));
      } catch (e) {
        reject(e);
      }
    }
    function step(result) {
      result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected);
    }
    step((generator = generator.apply(thisArg, _arguments || [])).next());
  });
};
var { access, appendFile, writeFile } = promises;
var SUMMARY_ENV_VAR = "GITHUB_STEP_SUMMARY";
var Summary = class {
  constructor() {
    this._buffer = "";
  }
  /**
   * Finds the summary file path from the environment, rejects if env var is not found or file does not exist
   * Also checks r/w permissions.
   *
   * @returns step summary file path
   */
  filePath() {
    return __awaiter(this, void 0, void 0, function* () {
      if (this._filePath) {
        return this._filePath;
      }
      const pathFromEnv = process.env[SUMMARY_ENV_VAR];
      if (!pathFromEnv) {
        throw new Error(`Unable to find environment variable for $${SUMMARY_ENV_VAR}. Check if your runtime environment supports job summaries.`);
      }
      try {
        yield access(pathFromEnv, constants.R_OK | constants.W_OK);
      } catch (_a) {
        throw new Error(`Unable to access summary file: '${pathFromEnv}'. Check if the file has correct read/write permissions.`);
      }
      this._filePath = pathFromEnv;
      return this._filePath;
    });
  }
  /**
   * Wraps content in an HTML tag, adding any HTML attributes
   *
   * @param {string} tag HTML tag to wrap
   * @param {string | null} content content within the tag
   * @param {[attribute: string]: string} attrs key-value list of HTML attributes to add
   *
   * @returns {string} content wrapped in HTML element
   */
  wrap(tag, content, attrs = {}) {
    const htmlAttrs = Object.entries(attrs).map(([key, value]) => ` ${key}="${value}"`).join("");
    if (!content) {
      return `<${tag}${htmlAttrs}>`;
    }
    return `<${tag}${htmlAttrs}>${content}</${tag}>`;
  }
  /**
   * Writes text in the buffer to the summary buffer file and empties buffer. Will append by default.
   *
   * @param {SummaryWriteOptions} [options] (optional) options for write operation
   *
   * @returns {Promise<Summary>} summary instance
   */
  write(options) {
    return __awaiter(this, void 0, void 0, function* () {
      const overwrite = !!(options === null || options === void 0 ? void 0 : options.overwrite);
      const filePath = yield this.filePath();
      const writeFunc = overwrite ? writeFile : appendFile;
      yield writeFunc(filePath, this._buffer, { encoding: "utf8" });
      return this.emptyBuffer();
    });
  }
  /**
   * Clears the summary buffer and wipes the summary file
   *
   * @returns {Summary} summary instance
   */
  clear() {
    return __awaiter(this, void 0, void 0, function* () {
      return this.emptyBuffer().write({ overwrite: true });
    });
  }
  /**
   * Returns the current summary buffer as a string
   *
   * @returns {string} string of summary buffer
   */
  stringify() {
    return this._buffer;
  }
  /**
   * If the summary buffer is empty
   *
   * @returns {boolen} true if the buffer is empty
   */
  isEmptyBuffer() {
    return this._buffer.length === 0;
  }
  /**
   * Resets the summary buffer without writing to summary file
   *
   * @returns {Summary} summary instance
   */
  emptyBuffer() {
    this._buffer = "";
    return this;
  }
  /**
   * Adds raw text to the summary buffer
   *
   * @param {string} text content to add
   * @param {boolean} [addEOL=false] (optional) append an EOL to the raw text (default: false)
   *
   * @returns {Summary} summary instance
   */
  addRaw(text, addEOL = false) {
    this._buffer += text;
    return addEOL ? this.addEOL() : this;
  }
  /**
   * Adds the operating system-specific end-of-line marker to the buffer
   *
   * @returns {Summary} summary instance
   */
  addEOL() {
    return this.addRaw(EOL3);
  }
  /**
   * Adds an HTML codeblock to the summary buffer
   *
   * @param {string} code content to render within fenced code block
   * @param {string} lang (optional) language to syntax highlight code
   *
   * @returns {Summary} summary instance
   */
  addCodeBlock(code, lang) {
    const attrs = Object.assign({}, lang && { lang });
    const element = this.wrap("pre", this.wrap("code", code), attrs);
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds an HTML list to the summary buffer
   *
   * @param {string[]} items list of items to render
   * @param {boolean} [ordered=false] (optional) if the rendered list should be ordered or not (default: false)
   *
   * @returns {Summary} summary instance
   */
  addList(items, ordered = false) {
    const tag = ordered ? "ol" : "ul";
    const listItems = items.map((item) => this.wrap("li", item)).join("");
    const element = this.wrap(tag, listItems);
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds an HTML table to the summary buffer
   *
   * @param {SummaryTableCell[]} rows table rows
   *
   * @returns {Summary} summary instance
   */
  addTable(rows) {
    const tableBody = rows.map((row) => {
      const cells = row.map((cell) => {
        if (typeof cell === "string") {
          return this.wrap("td", cell);
        }
        const { header, data, colspan, rowspan } = cell;
        const tag = header ? "th" : "td";
        const attrs = Object.assign(Object.assign({}, colspan && { colspan }), rowspan && { rowspan });
        return this.wrap(tag, data, attrs);
      }).join("");
      return this.wrap("tr", cells);
    }).join("");
    const element = this.wrap("table", tableBody);
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds a collapsable HTML details element to the summary buffer
   *
   * @param {string} label text for the closed state
   * @param {string} content collapsable content
   *
   * @returns {Summary} summary instance
   */
  addDetails(label, content) {
    const element = this.wrap("details", this.wrap("summary", label) + content);
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds an HTML image tag to the summary buffer
   *
   * @param {string} src path to the image you to embed
   * @param {string} alt text description of the image
   * @param {SummaryImageOptions} options (optional) addition image attributes
   *
   * @returns {Summary} summary instance
   */
  addImage(src, alt, options) {
    const { width, height } = options || {};
    const attrs = Object.assign(Object.assign({}, width && { width }), height && { height });
    const element = this.wrap("img", null, Object.assign({ src, alt }, attrs));
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds an HTML section heading element
   *
   * @param {string} text heading text
   * @param {number | string} [level=1] (optional) the heading level, default: 1
   *
   * @returns {Summary} summary instance
   */
  addHeading(text, level) {
    const tag = `h${level}`;
    const allowedTag = ["h1", "h2", "h3", "h4", "h5", "h6"].includes(tag) ? tag : "h1";
    const element = this.wrap(allowedTag, text);
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds an HTML thematic break (<hr>) to the summary buffer
   *
   * @returns {Summary} summary instance
   */
  addSeparator() {
    const element = this.wrap("hr", null);
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds an HTML line break (<br>) to the summary buffer
   *
   * @returns {Summary} summary instance
   */
  addBreak() {
    const element = this.wrap("br", null);
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds an HTML blockquote to the summary buffer
   *
   * @param {string} text quote text
   * @param {string} cite (optional) citation url
   *
   * @returns {Summary} summary instance
   */
  addQuote(text, cite) {
    const attrs = Object.assign({}, cite && { cite });
    const element = this.wrap("blockquote", text, attrs);
    return this.addRaw(element).addEOL();
  }
  /**
   * Adds an HTML anchor tag to the summary buffer
   *
   * @param {string} text link text/content
   * @param {string} href hyperlink
   *
   * @returns {Summary} summary instance
   */
  addLink(text, href) {
    const element = this.wrap("a", text, { href });
    return this.addRaw(element).addEOL();
  }
};
var _summary = new Summary();
var summary = _summary;

// node_modules/@actions/core/lib/platform.js
import os3 from "os";
var platform = os3.platform();
var arch = os3.arch();

// node_modules/@actions/core/lib/core.js
var ExitCode;
(function(ExitCode2) {
  ExitCode2[ExitCode2["Success"] = 0] = "Success";
  ExitCode2[ExitCode2["Failure"] = 1] = "Failure";
})(ExitCode || (ExitCode = {}));
function getInput(name, options) {
  const val = process.env[`INPUT_${name.replace(/ /g, "_").toUpperCase()}`] || "";
  if (options && options.required && !val) {
    throw new Error(`Input required and not supplied: ${name}`);
  }
  if (options && options.trimWhitespace === false) {
    return val;
  }
  return val.trim();
}
function setOutput(name, value) {
  const filePath = process.env["GITHUB_OUTPUT"] || "";
  if (filePath) {
    return issueFileCommand("OUTPUT", prepareKeyValueMessage(name, value));
  }
  process.stdout.write(os4.EOL);
  issueCommand("set-output", { name }, toCommandValue(value));
}
function setFailed(message) {
  process.exitCode = ExitCode.Failure;
  error(message);
}
function error(message, properties = {}) {
  issueCommand("error", toCommandProperties(properties), message instanceof Error ? message.toString() : message);
}
function warning(message, properties = {}) {
  issueCommand("warning", toCommandProperties(properties), message instanceof Error ? message.toString() : message);
}
function notice(message, properties = {}) {
  issueCommand("notice", toCommandProperties(properties), message instanceof Error ? message.toString() : message);
}
function info(message) {
  process.stdout.write(message + os4.EOL);
}
function startGroup(name) {
  issue("group", name);
}
function endGroup() {
  issue("endgroup");
}

// action/src/action/main.ts
import { renameSync, writeFileSync } from "node:fs";
import { writeFile as writeFile2 } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

// action/src/result-document.ts
var shaSchema = external_exports.string().regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, { error: "expected a full lowercase commit sha" });
var probeVerdictSchema = external_exports.enum(["good", "bad", "skip", "error"]);
var probeSchema = external_exports.strictObject({
  sha: shaSchema,
  verdict: probeVerdictSchema,
  /** The test command's exit status; null when it was killed by a signal or timed out. */
  exitCode: external_exports.number().int().nullable(),
  durationMs: external_exports.number().int().nonnegative(),
  /** Planning depth: 1 + the latest round whose verdict was known when this probe was chosen. */
  round: external_exports.number().int().positive()
});
var reasonSchema = external_exports.enum([
  // no-culprit
  /** The bad commit passed the test: nothing in the range fails it. */
  "bad-commit-passes",
  /** Flaky mode: the evidence says no commit broke it; the failure was a flake. */
  "flake",
  // ambiguous
  /** Only commits that could not be tested (exit 125) are left. */
  "only-skipped-left",
  /** Flaky mode: the test budget ran out, or no test can tell the candidates apart. */
  "out-of-tests",
  // error
  /** The verdicts contradict each other (a test that is flaky or depends on more than the commit). */
  "contradiction",
  /** Exit 127 on a good commit too: the command does not exist where it runs. */
  "command-not-found",
  /** Exit 126 on a good commit too: the command cannot be executed. */
  "command-not-executable",
  /** A merge base of good and bad fails: the bug was fixed on the good side, not broken on the bad. */
  "merge-base-fails",
  /** A probe could not be run at all (a worktree could not be made, the runner failed). */
  "probe-failed",
  /** The engine stopped without a verdict (a bug). */
  "no-verdict",
  // interrupted
  /** Stopped on request (Ctrl-C, a cancelled run). */
  "cancelled",
  /** The run ended before the search did, without saying why (a result file written while running). */
  "stopped"
]);
var REASONS_BY_VERDICT = {
  "no-culprit": ["bad-commit-passes", "flake"],
  ambiguous: ["only-skipped-left", "out-of-tests"],
  error: ["contradiction", "command-not-found", "command-not-executable", "merge-base-fails", "probe-failed", "no-verdict"],
  interrupted: ["cancelled", "stopped"],
  culprit: [],
  searching: []
};
function reasonFits(verdict, reason) {
  const allowed = REASONS_BY_VERDICT[verdict];
  return reason === void 0 ? allowed.length === 0 : allowed.includes(reason);
}
var resultDocumentSchema = external_exports.strictObject({
  schema: external_exports.literal(1),
  jobId: external_exports.string().max(200).optional(),
  verdict: external_exports.enum(["culprit", "ambiguous", "no-culprit", "error", "interrupted", "searching"]),
  reason: reasonSchema.optional(),
  culprit: external_exports.strictObject({ sha: shaSchema, confidence: external_exports.number().min(0).max(1) }).optional(),
  /** The commits that can still hold the first bad commit: the culprit alone, or the ambiguous set. */
  candidates: external_exports.array(shaSchema).max(1e5),
  range: external_exports.strictObject({
    good: external_exports.array(shaSchema).min(1).max(1e3),
    bad: shaSchema,
    size: external_exports.number().int().nonnegative()
  }),
  probes: external_exports.array(probeSchema).max(1e5),
  /** Test runs, skips and errors included. */
  tested: external_exports.number().int().nonnegative(),
  rounds: external_exports.number().int().nonnegative(),
  /**
   * `--confirm n`: after the search, the culprit and each of its parents (the first only with
   * first-parent) re-run n times. `culpritFailed`: the culprit's runs that showed the new state
   * (failed; passed, finding a fix); `parentPassed`: the fewest runs of one parent that showed
   * the old state. Confirmed only when both are `runs`.
   */
  /**
   * Bisect mode without --first-parent, with a culprit: true when it is off the bad commit's
   * first-parent line (it came in with a merged branch: --first-parent was probably meant).
   */
  offFirstParentLine: external_exports.boolean().optional(),
  /**
   * Flaky mode, with a culprit: what the run measured of the test's flake rate, its tests of
   * commits the culprit is not in and how many of them failed (the App learns the rate from it).
   */
  flakeEvidence: external_exports.strictObject({ cleanTests: external_exports.number().int().nonnegative().max(1e5), falseFailures: external_exports.number().int().nonnegative().max(1e5) }).optional(),
  confirmation: external_exports.strictObject({
    runs: external_exports.number().int().min(1).max(1e3),
    culpritFailed: external_exports.number().int().nonnegative(),
    parentPassed: external_exports.number().int().nonnegative(),
    verdict: external_exports.enum(["confirmed", "not-reproducible"])
  }).optional(),
  /** For people: what happened, in a sentence. Parts decide on `verdict` and `reason`. */
  error: external_exports.string().max(1e4).optional()
}).refine((doc) => reasonFits(doc.verdict, doc.reason), {
  error: "the reason does not fit the verdict (no-culprit, ambiguous, error and interrupted each need one of their own; culprit and searching have none)",
  path: ["reason"]
}).refine((doc) => doc.verdict === "culprit" === (doc.culprit !== void 0), {
  error: "a culprit verdict names its culprit, and only it does",
  path: ["culprit"]
});

// action/src/action/inputs.ts
var ACTION_OPTIONS = optionsOn("action");
var refList = external_exports.string().transform((s) => s.split(/[\s,]+/).filter(Boolean));
var ref = external_exports.string().regex(/^[^-\s][^\s]*$/, { error: "expected a commit sha, tag or branch (no spaces, not starting with '-')" });
var knownSchema = external_exports.array(
  external_exports.strictObject({
    sha: external_exports.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, { error: "expected a full commit sha" }),
    verdict: external_exports.enum(["good", "bad", "skip"])
  })
);
var OWN_INPUTS = {
  good: { text: refList.pipe(external_exports.array(ref).min(1, { error: "at least one good commit is required" })), default: "" },
  bad: { text: ref, default: "" },
  command: { text: external_exports.string().min(1, { error: "the test command is required, e.g. 'npm test'" }), default: "" },
  "job-id": {
    text: external_exports.string().max(200).regex(/^[\w.-]*$/, { error: "letters, digits, '.', '_' and '-' only" }),
    default: ""
  },
  mode: { text: external_exports.enum(["bisect", "probe"], { error: "expected 'bisect' or 'probe'" }), default: "bisect" },
  commits: { text: refList.pipe(external_exports.array(ref)), default: "" },
  "flake-history": {
    // `<false failures>/<clean tests>` earlier flaky bisects of the test measured, or nothing.
    text: external_exports.string().regex(/^(?:|\d{1,6}\/\d{1,6})$/, { error: "expected <false failures>/<clean tests>, such as 9/52, or nothing" }).transform((text) => {
      if (text === "") return null;
      const slash = text.indexOf("/");
      return { falseFailures: Number(text.slice(0, slash)), cleanTests: Number(text.slice(slash + 1)) };
    }).refine((h) => h === null || h.falseFailures <= h.cleanTests, { error: "expected no more false failures than clean tests" }),
    default: ""
  },
  known: {
    text: external_exports.string().transform((text, ctx) => {
      if (text.trim() === "" || text.trim() === "null") return [];
      try {
        const parsed = JSON.parse(text);
        return parsed;
      } catch {
        ctx.addIssue({ code: "custom", message: 'expected JSON such as [{"sha": "<40 hex>", "verdict": "good"}]' });
        return external_exports.NEVER;
      }
    }).pipe(knownSchema),
    default: ""
  }
};
var INPUT_NAMES = [
  ...["good", "bad", "command", "job-id", "mode", "commits"],
  ...ACTION_OPTIONS.map((key) => OPTIONS[key].name),
  ...["known", "flake-history"]
];
var settingsSchema = external_exports.strictObject({
  good: external_exports.array(external_exports.string()).min(1),
  bad: external_exports.string(),
  command: external_exports.string(),
  jobId: external_exports.string().optional(),
  mode: external_exports.enum(["bisect", "probe"]),
  /** Probe mode: the commits to test. */
  commits: external_exports.array(external_exports.string()),
  known: knownSchema,
  flakeHistory: external_exports.strictObject({ falseFailures: external_exports.int(), cleanTests: external_exports.int() }).nullable(),
  // The values of the Action's options.
  ...optionValuesSchema.pick(SURFACES.action).shape
});
function invalid(name, value, expected) {
  const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
  return new Error(`Invalid input '${name}': '${shown}'. ${expected.charAt(0).toUpperCase()}${expected.slice(1)}.`);
}
function readInputs(getInput2) {
  const own = (name) => {
    const input = OWN_INPUTS[name];
    const raw = getInput2(name);
    const value = raw === "" ? input.default : raw;
    const result = input.text.safeParse(value);
    if (!result.success) throw invalid(name, value, result.error.issues[0].message);
    return result.data;
  };
  const option = (key) => {
    const definition = OPTIONS[key];
    const raw = getInput2(definition.name);
    if (raw === "") return definition.default;
    const result = definition.text.safeParse(raw);
    if (!result.success) throw invalid(definition.name, raw, `expected ${definition.rule}`);
    return result.data;
  };
  const values = {
    good: own("good"),
    bad: own("bad"),
    command: own("command"),
    jobId: own("job-id") || void 0,
    mode: own("mode"),
    commits: own("commits"),
    ...Object.fromEntries(ACTION_OPTIONS.map((key) => [key, option(key)])),
    known: own("known"),
    flakeHistory: own("flake-history")
  };
  const settings = settingsSchema.parse(values);
  if (settings.mode === "probe") {
    if (settings.commits.length === 0) {
      throw new Error("Invalid input 'commits': ''. Probe mode needs the commits to test (shas separated by spaces or commas).");
    }
    const notSha = (name, refs) => {
      const ref2 = refs.find((r) => !shaSchema.safeParse(r).success);
      if (ref2 !== void 0) {
        throw invalid(
          name,
          ref2,
          `expected a full lowercase commit sha in probe mode, which does not resolve names (it has no history to resolve them in); pass the output of 'git rev-parse ${ref2}^{commit}'`
        );
      }
    };
    notSha("good", settings.good);
    notSha("bad", [settings.bad]);
  }
  return settings;
}

// action/src/runner/ensure-history.ts
var isFullSha = (ref2) => /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(ref2);
async function ensureHistory(git, refs, log) {
  const [missing, shallow] = await Promise.all([git.missingCommits([refs.bad, ...refs.good]), git.isShallow()]);
  for (const ref2 of missing.filter(isFullSha)) {
    log(`Commit ${ref2} is not in the clone: fetching it from origin.`);
    await git.fetch(["--no-tags", "origin", ref2]).catch((error2) => {
      throw new Error(`Commit ${ref2} is not in the repository and could not be fetched from origin: ${error2.message}`);
    });
  }
  if (!shallow) return;
  for (let depth = 50; ; depth *= 2) {
    const cut = await git.shallowCommitsIn(refs.bad, refs.good);
    if (cut === 0) return;
    if (!await git.isShallow()) return;
    log(`The clone is shallow and the range reaches its boundary: deepening by ${depth} commits.`);
    const before = await git.shallowBoundary();
    await git.fetch(["--no-tags", `--deepen=${depth}`, "origin"]);
    if (await git.shallowBoundary() === before) {
      log("Deepening fetched nothing new: fetching the whole history.");
      await git.fetch(["--no-tags", "--unshallow", "origin"]);
      return;
    }
  }
}
async function ensureCommits(git, commits, log) {
  const missing = (await git.missingCommits(commits)).filter(isFullSha);
  if (missing.length === 0) return;
  const depth = await git.isShallow() ? ["--depth=1"] : [];
  for (const sha of missing) {
    log(`Commit ${sha} is not in the clone: fetching just that commit from origin.`);
    await git.fetch(["--no-tags", ...depth, "origin", sha]).catch((error2) => {
      throw new Error(
        `Commit ${sha} is not in the clone and could not be fetched from origin (${error2.message}). Probe mode tests the commits the checkout fetched: check out the commit to test (actions/checkout with ref: <sha>) and pass the same sha in 'commits'.`
      );
    });
  }
}

// action/src/action/step-summary.ts
function escapeMarkdown(text) {
  return text.replace(/[\\`*_{}[\]()#!|<>~@&]/g, (c) => `\\${c}`).replace(/\r?\n/g, " ").slice(0, 200);
}
var short = (sha) => sha.slice(0, 10);
function commitLink(sha, links) {
  return links.commitUrl ? `[\`${short(sha)}\`](${links.commitUrl(sha)})` : `\`${short(sha)}\``;
}
var seconds = (ms) => `${(ms / 1e3).toFixed(1)} s`;
function renderSummary(result, commits, links, findFix = false) {
  const first = findFix ? "first fixed commit" : "first bad commit";
  const [oldTerm, newTerm] = findFix ? ["broken", "fixed"] : ["good", "bad"];
  const subject = (sha) => escapeMarkdown(commits.get(sha)?.subject ?? "");
  const lines = ["## Bisect", ""];
  const size = result.range.size > 0 ? `, ${result.range.size} commit${result.range.size === 1 ? "" : "s"}` : "";
  lines.push(
    `Range: ${result.range.good.map((g) => commitLink(g, links)).join(", ")} (${oldTerm}) .. ${commitLink(result.range.bad, links)} (${newTerm})${size}. Tested ${result.tested} time${result.tested === 1 ? "" : "s"} in ${result.rounds} round${result.rounds === 1 ? "" : "s"}.`,
    ""
  );
  const candidateList = (shas) => {
    for (const sha of shas.slice(0, 50)) lines.push(`- ${commitLink(sha, links)} ${subject(sha)}`);
    if (shas.length > 50) lines.push(`- \u2026 and ${shas.length - 50} more`);
  };
  switch (result.verdict) {
    case "culprit": {
      const c = result.culprit;
      const info2 = commits.get(c.sha);
      lines.push(`### ${findFix ? "First fixed commit" : "First bad commit"}: ${commitLink(c.sha, links)} ${subject(c.sha)}`, "");
      if (info2) lines.push(`Author: ${escapeMarkdown(info2.authorName)}, ${info2.date}`, "");
      lines.push(`Confidence: ${c.confidence === 1 ? "1 (deterministic test)" : c.confidence.toFixed(3)}`, "");
      if (result.confirmation) {
        const k = result.confirmation;
        lines.push(
          k.verdict === "confirmed" ? `Confirmed: the ${findFix ? "fix passed" : "culprit failed"} ${k.culpritFailed} of ${k.runs} re-runs, its parent${k.parentPassed === k.runs ? "" : "s"} ${findFix ? "failed" : "passed"} ${k.parentPassed} of ${k.runs}.` : `**Not reproducible**: the ${findFix ? "fix passed" : "culprit failed"} ${k.culpritFailed} of ${k.runs} re-runs, its parents ${findFix ? "failed" : "passed"} ${k.parentPassed} of ${k.runs}.`,
          ""
        );
      }
      break;
    }
    case "ambiguous":
      lines.push(`### The ${first} could be any of:`, "");
      candidateList(result.candidates);
      lines.push(
        "",
        result.reason === "out-of-tests" ? "The tests ran out before one commit reached the confidence: these are the likeliest. Run again with a lower confidence, or test them by hand." : "These commits could not be tested (exit 125). Make them testable, or test them by hand.",
        ""
      );
      break;
    case "no-culprit":
      lines.push(
        ...findFix ? [
          "### No fix",
          "",
          result.reason === "flake" ? "The passes look like flakes: no commit is likely to have fixed the test." : "The newest commit still fails the test: no commit in the range fixed it."
        ] : ["### No culprit", "", escapeMarkdown(result.error ?? "No commit in the range fails the test.")],
        ""
      );
      break;
    case "error":
      lines.push(`### Bisect failed`, "", escapeMarkdown(result.error ?? "Unknown error."), "");
      break;
    case "interrupted":
      lines.push(
        `### Bisect interrupted`,
        "",
        escapeMarkdown(result.error ?? "The bisection stopped before it ended."),
        "",
        `A retry resumes from ${result.tested === 1 ? "the verdict of the 1 test" : `the verdicts of the ${result.tested} tests`} it ran.`,
        ""
      );
      break;
    case "searching":
      lines.push(
        `### Probes tested: the bisection goes on`,
        "",
        result.candidates.length > 0 ? `${result.candidates.length} commit${result.candidates.length === 1 ? "" : "s"} can still hold the ${first}.` : "Bisect Bot plans the next round from these verdicts.",
        ""
      );
      break;
  }
  if (result.probes.length > 0) {
    lines.push("| # | commit | subject | verdict | exit | duration | round |", "|---|---|---|---|---|---|---|");
    result.probes.forEach((p, i) => {
      lines.push(
        `| ${i + 1} | ${commitLink(p.sha, links)} | ${subject(p.sha)} | ${p.verdict} | ${p.exitCode ?? "\u2013"} | ${seconds(p.durationMs)} | ${p.round} |`
      );
    });
    lines.push("");
  }
  return lines.join("\n");
}

// action/src/action/main.ts
var short2 = (sha) => sha.slice(0, 10);
async function run() {
  const cancel = new AbortController();
  const onSignal = (signal) => {
    if (!cancel.signal.aborted) info(`Received ${signal}: stopping the tests and saving the verdicts so far.`);
    cancel.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const settings = readInputs((name) => getInput(name));
    const file = join(process.env.RUNNER_TEMP ?? tmpdir(), `bisect-result-${settings.jobId ?? "local"}.json`);
    const result = await bisect(settings, file, cancel.signal);
    await writeFile2(file, `${JSON.stringify(result, null, 2)}
`);
    setOutput("verdict", result.verdict);
    setOutput("culprit", result.culprit?.sha ?? "");
    setOutput("tested", String(result.tested));
    setOutput("result-file", file);
    if (result.verdict === "error" || result.verdict === "interrupted") setFailed(result.error ?? "The bisection failed.");
  } catch (error2) {
    setFailed(errorMessage(error2));
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
function writeProgress(file, jobId, range, probes) {
  const progress = interruptedResult(resultBase(jobId, range, probes), "stopped");
  writeFileSync(`${file}.partial`, `${JSON.stringify(progress, null, 2)}
`);
  renameSync(`${file}.partial`, file);
}
async function prepare(git, settings) {
  const log = (line) => info(line);
  if (settings.mode === "probe") {
    await ensureCommits(git, settings.commits, log);
    const commits = await Promise.all(settings.commits.map((c) => git.resolveCommit(c)));
    return { git, good: settings.good, bad: settings.bad, commits };
  }
  await ensureHistory(git, { good: settings.good, bad: settings.bad }, log);
  return { ...await resolveRange(git, settings), commits: void 0 };
}
async function bisect(settings, resultFile, signal) {
  const git = await GitCli.open(process.env.GITHUB_WORKSPACE ?? process.cwd());
  const { commits, ...resolved } = await prepare(git, settings);
  const { good, bad } = resolved;
  const output = /* @__PURE__ */ new Map();
  const done = [];
  let range = { good, bad, size: 0 };
  const onEvent = (event) => {
    switch (event.type) {
      case "start":
        range = { good, bad, size: event.rangeSize };
        info(
          commits ? `Testing ${event.estimatedTests} commit${event.estimatedTests === 1 ? "" : "s"} of ${settings.good.map(short2).join(", ")}..${short2(settings.bad)} (probe mode)${settings.parallel > 1 && event.estimatedTests > 1 ? `, ${Math.min(settings.parallel, event.estimatedTests)} at a time` : ""}.` : `Bisecting ${event.rangeSize} commits (${settings.good.join(", ")}..${settings.bad}), about ${event.estimatedTests} tests${settings.parallel > 1 ? `, ${settings.parallel} at a time` : ""}.`
        );
        break;
      case "probe-end": {
        const p = event.probe;
        done.push(p);
        try {
          writeProgress(resultFile, settings.jobId, range, done);
        } catch (error2) {
          warning(`Could not save progress to ${resultFile}: ${errorMessage(error2)}`);
        }
        startGroup(
          `${short2(p.sha)} ${p.verdict} (exit ${p.exitCode ?? "\u2013"}, ${(p.durationMs / 1e3).toFixed(1)} s)${event.note ? ` \u2014 ${event.note}` : ""}`
        );
        for (const chunk of output.get(p.sha) ?? []) process.stdout.write(chunk);
        endGroup();
        output.delete(p.sha);
        break;
      }
      case "probe-stopped":
        info(`${short2(event.sha)} stopped: its verdict is no longer needed`);
        output.delete(event.sha);
        break;
      case "warning":
        warning(event.message);
        break;
      case "probe-start":
        output.set(event.sha, []);
        break;
    }
  };
  const result = await runBisect({
    ...resolved,
    command: ["bash", "-c", settings.command],
    ...runnerOptions(settings),
    known: settings.known,
    ...settings.flakeHistory ? { flakeHistory: settings.flakeHistory } : {},
    ...settings.jobId ? { jobId: settings.jobId } : {},
    ...commits ? { probeOnly: commits } : {},
    signal,
    onEvent,
    onOutput: (sha, chunk) => output.get(sha)?.push(chunk)
  });
  await writeSummary(result, git, settings.findFix);
  return result;
}
async function writeSummary(result, git, findFix) {
  const shas = /* @__PURE__ */ new Set([...result.probes.map((p) => p.sha), ...result.candidates, ...result.culprit ? [result.culprit.sha] : []]);
  const commits = new Map((await git.describeMany([...shas])).map((c) => [c.sha, c]));
  const server = process.env.GITHUB_SERVER_URL ?? "https://github.com";
  const repository = process.env.GITHUB_REPOSITORY;
  const markdown = renderSummary(result, commits, repository ? { commitUrl: (sha) => `${server}/${repository}/commit/${sha}` } : {}, findFix);
  if (process.env.GITHUB_STEP_SUMMARY) await summary.addRaw(markdown).write();
  if (result.culprit) {
    const c = commits.get(result.culprit.sha);
    notice(`First bad commit: ${c.sha} ${c.subject} (${c.authorName})`);
  }
}

// action/src/action/entry.ts
await run();
