/**
 * Test support: Vitest's asymmetric matchers typed `unknown` instead of `any`, so an object literal
 * that holds one is no unsafe `any` assignment. The same matchers: they pass and fail as Vitest's.
 */
import { expect } from "vitest";

export const matchers = {
  /** `expect.any(String)`, `expect.any(Array)`: any value of that type. */
  any: (constructor: unknown): unknown => expect.any(constructor),
  /** `expect.stringMatching(/…/)`: a string the pattern matches. */
  stringMatching: (pattern: string | RegExp): unknown => expect.stringMatching(pattern),
};
