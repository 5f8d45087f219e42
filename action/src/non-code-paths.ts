/**
 * Paths that are not code a test runs: documentation, tests, CI configuration. A culprit that
 * changes only such files is implausible (the CLI and the App both say so). Pure: no I/O.
 */
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
