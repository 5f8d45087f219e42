/** The runner's policy for infrastructure errors: one retry per commit, then the commit counts as skipped. */
import { describe, expect, it } from "vitest";
import { InfrastructureRetry } from "../../action/src/runner/infrastructure-retry.js";

describe("InfrastructureRetry", () => {
  it("retries a commit once after an infrastructure error, and skips it after the second", () => {
    const retry = new InfrastructureRetry();
    expect(retry.hasWaiting).toBe(false);
    expect(retry.onError("c3")).toBe("retry");
    expect(retry.hasWaiting).toBe(true);
    expect(retry.take()).toBe("c3");
    expect(retry.hasWaiting).toBe(false);
    expect(retry.onError("c3")).toBe("skip");
    expect(retry.hasWaiting).toBe(false); // a skipped commit is not queued again
    expect(retry.onError("c3")).toBe("skip");
  });

  it("gives every commit its own retry, started oldest first", () => {
    const retry = new InfrastructureRetry();
    expect(["c1", "c2", "c3"].map((sha) => retry.onError(sha))).toEqual(["retry", "retry", "retry"]);
    expect([retry.take(), retry.take()]).toEqual(["c1", "c2"]);
    expect(retry.onError("c1")).toBe("skip");
    expect(retry.onError("c4")).toBe("retry");
    expect([retry.take(), retry.take(), retry.take()]).toEqual(["c3", "c4", undefined]);
  });
});
