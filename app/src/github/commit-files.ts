import { z } from "zod";
import type { Octokit, RepoRef } from "./octokit.js";

/** GitHub lists at most this many of a commit's files in one answer. */
export const MAX_LISTED_FILES = 300;

const commitSchema = z.object({ files: z.array(z.object({ filename: z.string() })).optional() });

/**
 * The paths a commit changed (against its first parent), from one REST call; null when GitHub
 * lists none or may have left some out (300 or more), so that nothing is concluded from a part.
 */
export async function commitFiles(octokit: Octokit, where: RepoRef, sha: string): Promise<string[] | null> {
  const { data } = await octokit.request("GET /repos/{owner}/{repo}/commits/{ref}", { ...where, ref: sha, per_page: MAX_LISTED_FILES });
  const files = commitSchema.parse(data).files;
  if (files === undefined || files.length === 0 || files.length >= MAX_LISTED_FILES) return null;
  return files.map((f) => f.filename);
}

export type NonCodeKind = "documentation" | "tests" | "CI configuration";

const CI = [
  /^\.github\//,
  /^\.gitlab-ci\.ya?ml$/,
  /^\.circleci\//,
  /^\.travis\.ya?ml$/,
  /^azure-pipelines\.ya?ml$/,
  /(^|\/)Jenkinsfile$/,
  /^\.buildkite\//,
  /^appveyor\.ya?ml$/,
  /^\.drone\.ya?ml$/,
];
const DOCS = [
  /\.(md|markdown|rst|adoc|asciidoc)$/i,
  /(^|\/)docs?\//,
  /(^|\/)(README|CHANGELOG|CHANGES|HISTORY|LICENSE|LICENCE|NOTICE|AUTHORS|CONTRIBUTING|CODE_OF_CONDUCT)(\.[^/]*)?$/i,
];
const TESTS = [
  /(^|\/)(tests?|__tests__|spec|specs|testdata|test-data)\//,
  /(^|\/)[^/]+[._-](test|spec)\.[^/]+$/,
  /(^|\/)test_[^/]+\.py$/,
  /(^|\/)[^/]+_test\.(go|py|rb|exs?)$/,
  /(^|\/)[^/]+Tests?\.(java|kt|cs|swift|scala)$/,
];

/** What a path is when it is not code the test runs: documentation, tests or CI configuration; null for anything else. */
export function nonCodeKind(path: string): NonCodeKind | null {
  if (CI.some((r) => r.test(path))) return "CI configuration";
  if (TESTS.some((r) => r.test(path))) return "tests";
  if (DOCS.some((r) => r.test(path))) return "documentation";
  return null;
}

/** The kinds a commit's files are, when every one of them is documentation, tests or CI configuration; null otherwise. */
export function onlyNonCode(paths: readonly string[]): NonCodeKind[] | null {
  if (paths.length === 0) return null;
  const kinds = new Set<NonCodeKind>();
  for (const path of paths) {
    const kind = nonCodeKind(path);
    if (kind === null) return null;
    kinds.add(kind);
  }
  return [...kinds].sort();
}
