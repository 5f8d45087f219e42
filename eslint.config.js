// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["action/dist/**", "app/dist/**", "node_modules/**", "coverage/**", ".data/**"] },
  js.configs.recommended,
  // Type-checked: floating promises, throwing non-Errors, unsafe `any` and the rest need the types.
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: { process: "readonly", console: "readonly", setTimeout: "readonly", clearTimeout: "readonly", URL: "readonly" },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  // The sources derive their types from schemas: no `as` casts (`as const` is not a cast).
  {
    files: ["app/src/**/*.ts", "action/src/**/*.ts"],
    rules: { "@typescript-eslint/consistent-type-assertions": ["error", { assertionStyle: "never" }] },
  },
  // Plain JavaScript (this file, the build script, the CLI's bin) is not in the TypeScript project.
  { files: ["**/*.js"], ...tseslint.configs.disableTypeChecked },
);
