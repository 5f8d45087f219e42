/**
 * Vitest global setup: one throw-away PostgreSQL server for the whole run, and two initialised
 * PGlite clusters (empty, and migrated) to start in-memory test databases from (see postgres.ts). Test files reach them
 * through `testPostgres()` and `openTestDatabase()`, and isolate themselves with fresh databases.
 * When the server cannot start (no binaries here), only the tests that need it fail, each with
 * the reason; the rest of the suite runs.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { preparePgliteTemplate, startPostgres, type PostgresServer } from "./postgres.js";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), "bisect-pglite-"));
  let server: PostgresServer | undefined;
  const [started, template] = await Promise.allSettled([startPostgres(), preparePgliteTemplate(dir)]);
  if (started.status === "fulfilled") {
    server = started.value;
    project.provide("bisectPostgres", { port: server.port, version: server.version });
  } else {
    project.provide("bisectPostgres", { error: (started.reason as Error).message });
  }
  // Without a template each PGlite test database runs its own initdb: slower, same results.
  if (template.status === "fulfilled") {
    project.provide("bisectPgliteTemplate", template.value.empty);
    project.provide("bisectPgliteMigratedTemplate", template.value.migrated);
  }
  return async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
