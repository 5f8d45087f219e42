import type { Store } from "./store.js";

/** Rows deleted per statement: a short transaction, whatever the backlog. */
export const PRUNE_BATCH = 1000;
/** How often each instance prunes (any may: batches skip rows another is deleting). */
export const PRUNE_INTERVAL_MS = 3600_000;

/**
 * Deletes finished tasks and claim-audit rows older than `retentionDays`, a batch at a time, until
 * a batch comes back short. Answers how many rows went.
 *
 * @example
 * await pruneOld(store, 30); // 12000 → deleted in 13 statements
 */
export async function pruneOld(store: Store, retentionDays: number, batch = PRUNE_BATCH): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await store.call("prune", { olderThanSeconds: retentionDays * 86_400, batch });
    total += deleted;
    // Each kind deletes at most `batch`: fewer than that of both together means neither was full.
    if (deleted < batch) return total;
  }
}

/**
 * Prunes a minute after start, then every PRUNE_INTERVAL_MS, logging what went; a failure is
 * logged and tried again next time. `stop()` ends the schedule (a prune under way finishes).
 */
export function startRetention(
  store: Store,
  retentionDays: number,
  log: { info(o: object, msg: string): void; warn(o: object, msg: string): void },
  { firstAfterMs = 60_000, intervalMs = PRUNE_INTERVAL_MS }: { firstAfterMs?: number; intervalMs?: number } = {},
): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const run = async () => {
    try {
      const deleted = await pruneOld(store, retentionDays);
      if (deleted > 0) log.info({ deleted, retentionDays }, "pruned finished tasks and claim records");
    } catch (error) {
      log.warn({ err: error }, "pruning old rows failed; trying again later");
    }
    if (!stopped) timer = setTimeout(() => void run(), intervalMs).unref();
  };
  timer = setTimeout(() => void run(), firstAfterMs).unref();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
