/** The bisect engine: pure search over a commit DAG. No I/O, no git calls. */
export { ancestorSums } from "./ancestor-sums.js";
export { Bisection, type BisectOptions, type BisectStatus } from "./bisection.js";
export { defaultFlakyOptions, learnedFlakyOptions, type FlakeHistory, type FlakyOptions } from "./flaky-search.js";
export { CommitGraph, type CommitNode } from "./graph.js";
export { computeRange, onFirstParentLine, type RangeInput } from "./range.js";
export { binarySteps, engineVerdict, type TestVerdict } from "./search.js";
