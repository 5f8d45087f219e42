#!/usr/bin/env node
// Pins the bisect Action in the workflow users install to a release commit:
//   uses: bisect-bot/bisect-bot/action@<40-hex sha> # vX.Y.Z
// A tag can be moved by whoever can push; a commit SHA cannot, so the workflow a user copies runs
// exactly the action/dist of the release it names. The release workflow (.github/workflows/
// release.yml) runs this with the release commit's SHA. Node built-ins only: it runs without
// `npm ci`.
//
//   node scripts/release/pin-action.js --sha <commit> --version <vX.Y.Z> [--file <workflow>]
import { readFile, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";

const USAGE = "Usage: node scripts/release/pin-action.js --sha <40-hex commit> --version <vX.Y.Z> [--file .github/workflows/bisect.yml]";

/** The Action's `uses:` target, without the `@ref`. */
const ACTION = "bisect-bot/bisect-bot/action";

/** Semantic Versioning 2.0.0 (semver.org's regular expression), with an optional leading `v`. */
const SEMVER =
  /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/** A `uses:` line of the Action (a list item or a key), whatever its ref and comment; CRLF kept. */
const USES_LINE = new RegExp(`^(\\s*(?:-\\s+)?uses:\\s*)(["']?)${ACTION.replaceAll("/", "\\/")}@[^\\s"'#]+\\2(?:\\s+#.*?)?(\\r?)$`);

/** A refusal the user can act on: printed without a stack trace. */
class ReleaseError extends Error {}

/**
 * Rewrites every `uses: bisect-bot/bisect-bot/action@…` line of `text` to the pinned form.
 * Returns the new text and the 1-based numbers of the lines it rewrote.
 */
export function pinAction(text, sha, version) {
  const pinned = [];
  const lines = text.split("\n").map((line, index) => {
    const match = USES_LINE.exec(line);
    if (!match) return line;
    pinned.push(index + 1);
    return `${match[1]}${ACTION}@${sha} # ${version}${match[3]}`;
  });
  return { text: lines.join("\n"), pinned };
}

/** The release commit: a full SHA, since a short one can become ambiguous and a tag can move. */
function checkSha(sha) {
  if (sha === undefined) throw new ReleaseError(`Missing --sha <commit>: the release commit's full SHA (git rev-parse 'vX.Y.Z^{commit}').\n${USAGE}`);
  if (!/^[0-9a-f]{40}$/.test(sha)) {
    throw new ReleaseError(
      `Invalid --sha '${sha}': expected the release commit's full 40-character lowercase hex SHA (git rev-parse 'vX.Y.Z^{commit}'), ` +
        "not a short SHA, a tag or a branch: those can change what the pinned workflow runs.",
    );
  }
  return sha;
}

/** The version for the comment, always with its `v` (1.2.3 and v1.2.3 both give v1.2.3). */
function checkVersion(version) {
  if (version === undefined) throw new ReleaseError(`Missing --version <vX.Y.Z>: the version released at that commit.\n${USAGE}`);
  if (!SEMVER.test(version)) throw new ReleaseError(`Invalid --version '${version}': expected a semantic version such as v1.2.3 (or 1.2.3, v1.2.3-rc.1).`);
  return version.startsWith("v") ? version : `v${version}`;
}

async function main() {
  let values;
  try {
    ({ values } = parseArgs({ options: { sha: { type: "string" }, version: { type: "string" }, file: { type: "string" } }, strict: true }));
  } catch (error) {
    throw new ReleaseError(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  }
  const sha = checkSha(values.sha);
  const version = checkVersion(values.version);
  const file = values.file ?? ".github/workflows/bisect.yml";

  let text;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new ReleaseError(`Cannot read ${file} (${error instanceof Error ? error.message : String(error)}): pass the workflow with --file <path>.`);
  }
  const result = pinAction(text, sha, version);
  if (result.pinned.length === 0) {
    throw new ReleaseError(`${file} has no line 'uses: ${ACTION}@…': nothing to pin. Pass the bisect workflow with --file <path>.`);
  }
  if (result.text !== text) await writeFile(file, result.text);
  for (const line of result.pinned) process.stdout.write(`${file}:${line}: uses: ${ACTION}@${sha} # ${version}\n`);
}

try {
  await main();
} catch (error) {
  if (!(error instanceof ReleaseError)) throw error;
  process.stderr.write(`pin-action: ${error.message}\n`);
  process.exitCode = 1;
}
