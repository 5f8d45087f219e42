/** Which changed paths are documentation, tests or CI configuration: an implausible culprit's only files. */
import { describe, expect, it } from "vitest";
import { nonCodeKind, onlyNonCode } from "../../../action/src/non-code-paths.js";

describe("nonCodeKind", () => {
  it.each([
    ["README.md", "documentation"],
    ["docs/guide/install.rst", "documentation"],
    ["CHANGELOG", "documentation"],
    ["packages/core/LICENSE.txt", "documentation"],
    [".github/workflows/ci.yml", "CI configuration"],
    [".gitlab-ci.yml", "CI configuration"],
    ["ci/Jenkinsfile", "CI configuration"],
    ["test/parser.test.ts", "tests"],
    ["src/parser.test.ts", "tests"],
    ["src/parser.spec.js", "tests"],
    ["pkg/server/handler_test.go", "tests"],
    ["tests/test_cli.py", "tests"],
    ["src/test/java/org/acme/ParserTest.java", "tests"],
    ["__tests__/app.js", "tests"],
  ])("%s is %s", (path, kind) => {
    expect(nonCodeKind(path)).toBe(kind);
  });

  it.each(["src/parser.ts", "calc.sh", "Makefile", "package.json", "src/testing/helpers.ts", "lib/contest.py", "docsify.config.js", "value.txt"])(
    "%s is code (or may be)",
    (path) => {
      expect(nonCodeKind(path)).toBeNull();
    },
  );

  it("a commit is flagged only when every file it changed is not code", () => {
    expect(onlyNonCode(["README.md", "test/a.test.ts"])).toEqual(["documentation", "tests"]);
    expect(onlyNonCode(["README.md", "src/a.ts"])).toBeNull();
    expect(onlyNonCode([])).toBeNull();
  });
});
