/**
 * The learned flake rate (supabase/migrations/…1100_flake_rates.sql): what flaky bisects measured
 * of a command, pooled per repository and command, read back as the next bisect's prior, and shown
 * per command in the dashboard view — on every transport.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Store } from "../../../app/src/store/store.js";
import { stopTestPostgres } from "../../support/postgres.js";
import { openTestStore, TRANSPORTS, type TestStore } from "../../support/store.js";

const REPO = { repository: "octo-org/widgets", repositoryId: 5_000_000_001 };

afterAll(() => stopTestPostgres());

describe.each(TRANSPORTS)("learned flake rates on %s", (transport) => {
  let t: TestStore;
  let store: Store;
  beforeAll(async () => {
    t = await openTestStore(transport);
    store = t.store;
  });
  afterAll(() => t?.close());
  beforeEach(() => t.reset());

  const note = (command: string, cleanTests: number, falseFailures: number, repo = REPO) =>
    store.call("noteFlakeEvidence", { ...repo, command, cleanTests, falseFailures });

  it("pools what each flaky bisect of a command measured; other commands and repositories keep their own", async () => {
    expect(await store.call("flakeHistory", { repositoryId: REPO.repositoryId, command: "npm test" })).toBeUndefined();
    await note("npm test", 12, 2);
    await note("npm test", 9, 3);
    await note("npm test -- --shard 2", 10, 0);
    await note("npm test", 15, 4, { repository: "octo-org/gadgets", repositoryId: 5_000_000_002 });
    // A bisect that measured nothing (no clean test) changes nothing.
    await note("npm test", 0, 0);
    expect(await store.call("flakeHistory", { repositoryId: REPO.repositoryId, command: "npm test" })).toEqual({ clean_tests: 21, false_failures: 5 });
    expect(await store.call("flakeHistory", { repositoryId: REPO.repositoryId, command: "npm test -- --shard 2" })).toEqual({
      clean_tests: 10,
      false_failures: 0,
    });
    const view = await t.admin.query<{ repository: string; command: string; bisects: number; flake_rate: string }>(
      "select repository, command, bisects, flake_rate::text as flake_rate from public.bisect_command_flake_rates order by repository, command",
    );
    expect(view.rows).toEqual([
      { repository: "octo-org/gadgets", command: "npm test", bisects: 1, flake_rate: "0.267" },
      { repository: "octo-org/widgets", command: "npm test", bisects: 2, flake_rate: "0.238" },
      { repository: "octo-org/widgets", command: "npm test -- --shard 2", bisects: 1, flake_rate: "0.000" },
    ]);
  });

  it("halves the pool past 400 clean tests, so recent bisects weigh more and a test that changed is learned again", async () => {
    for (let i = 0; i < 20; i++) await note("make check", 20, 10);
    // A test that was fixed: its flakes stop.
    for (let i = 0; i < 20; i++) await note("make check", 20, 0);
    const history = await store.call("flakeHistory", { repositoryId: REPO.repositoryId, command: "make check" });
    expect(history!.clean_tests).toBeLessThanOrEqual(400);
    // Pooled without decay the rate would be 200/800 = 0.25; the recent clean runs pull it well below.
    expect(history!.false_failures / history!.clean_tests).toBeLessThan(0.15);
  });
});
