import type { ApplicationFunction, Logger, Probot } from "probot";
import { GitHubBudget } from "./github/budget.js";
import { eventRoutes, type Delivery, type EventRoutes } from "./handlers/events.js";
import { routes } from "./http/routes.js";
import type { Octokit } from "./github/octokit.js";
import type { AppMetrics } from "./metrics.js";
import type { Settings } from "./settings.js";
import type { Store } from "./store/store.js";
import { RedeliveryLoop } from "./worker/redeliver.js";
import { Worker } from "./worker/worker.js";

export interface BisectAppOptions {
  store: Store;
  settings: Settings;
  workerId: string;
  adminToken?: string | undefined;
  /** The instance's metrics: GitHub requests are counted on every Octokit the App makes. */
  metrics: AppMetrics;
  /** Start the worker loop and the webhook recovery loop when the app loads (default true; tests may drive them by hand). */
  startWorker?: boolean;
}

/**
 * The Probot app: the `issue_comment` handler (queue /bisect comments as command tasks), the
 * operators' HTTP routes, and the worker loop that does every GitHub side effect after a claim.
 *
 * @example
 * const app = new BisectApp({ store, settings, workerId: workerId() });
 * const middleware = await createNodeMiddleware(app.appFn, { probot: createProbot() });
 */
export class BisectApp {
  worker: Worker | undefined;
  /** Finds webhook deliveries the App failed to take (GitHub does not redeliver them) and has GitHub redeliver them. */
  redelivery: RedeliveryLoop | undefined;
  probot: Probot | undefined;
  private log: Logger | undefined;
  private events: EventRoutes | undefined;

  constructor(private readonly options: BisectAppOptions) {}

  readonly appFn: ApplicationFunction = (app, { addHandler }) => {
    const { store, settings, workerId, metrics } = this.options;
    this.probot = app;
    this.log = app.log;
    // A command stored here is claimed at once, not at the next poll.
    this.events = eventRoutes(store, { queued: () => this.worker?.wake() });
    // GitHub's rate limits count per installation, over every instance: one budget in the store.
    const budget = new GitHubBudget(store, { writesPerWindow: settings.GITHUB_WRITES_PER_MINUTE, windowSeconds: 60 }, app.log);
    this.worker = new Worker({
      store,
      settings,
      workerId,
      octokitFor: async (installationId, log) => {
        const octokit = await app.auth(installationId);
        // Probot's request log lines ("GitHub request: …") then carry the job or task they are for.
        if (log) octokit.log = log.child({ name: "github" });
        return budget.wrap(metrics.instrument(octokit, installationId), installationId);
      },
      log: app.log,
      metrics,
    });
    // `app.auth()` without an installation: the App's JWT, which the delivery log requires.
    // Probot hands out one Octokit as the App (not a new one per call): it is instrumented once.
    let appOctokit: Promise<Octokit> | undefined;
    this.redelivery = new RedeliveryLoop({
      store,
      settings,
      workerId,
      appOctokit: () =>
        (appOctokit ??= app.auth().then(
          (octokit) => metrics.instrument(octokit, null),
          (error: unknown) => {
            appOctokit = undefined;
            throw error;
          },
        )),
      log: app.log,
    });
    addHandler(routes({ store, worker: () => this.worker, workerId, adminToken: this.options.adminToken, metrics }));
    if (this.options.startWorker ?? true) {
      this.worker.start();
      this.redelivery.start();
    }
  };

  /**
   * Takes a verified delivery: the handler for its event stores what it means (a command task, a
   * run's state, a pull request's head) and nothing else; deliveries of other events are
   * acknowledged and dropped. Throws when the store failed (the caller answers 500). Probot's own
   * `receive` is not used: it builds an authenticated Octokit for every delivery, which none of
   * these handlers needs, and which cost more than the rest of an acknowledgement together.
   */
  async receive(delivery: Delivery): Promise<void> {
    if (!this.events || !this.log) throw new Error("The app is not loaded: probot.load(app.appFn) first.");
    await this.events(delivery, this.log);
  }

  async stop(): Promise<void> {
    await Promise.all([this.worker?.stop(), this.redelivery?.stop()]);
  }
}
