import type { ApplicationFunction, Probot } from "probot";
import { GitHubBudget } from "./github/budget.js";
import { issueCommentEventSchema, receiveIssueComment } from "./handlers/issue-comment.js";
import { pullRequestEventSchema, receivePullRequest } from "./handlers/pull-request.js";
import { receiveWorkflowJob, receiveWorkflowRun, workflowJobEventSchema, workflowRunEventSchema } from "./handlers/workflow-run.js";
import { routes } from "./http/routes.js";
import type { Settings } from "./settings.js";
import type { Store } from "./store/store.js";
import { RedeliveryLoop } from "./worker/redeliver.js";
import { Worker } from "./worker/worker.js";

export interface BisectAppOptions {
  store: Store;
  settings: Settings;
  workerId: string;
  adminToken?: string | undefined;
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

  constructor(private readonly options: BisectAppOptions) {}

  readonly appFn: ApplicationFunction = (app, { addHandler }) => {
    const { store, settings, workerId } = this.options;
    this.probot = app;
    app.on("issue_comment.created", async (context) => {
      const event = issueCommentEventSchema.parse(context.payload);
      const outcome = await receiveIssueComment(context.id, event, store);
      context.log.info({ delivery: context.id, repository: event.repository.full_name, comment: event.comment.id, ...outcome }, "issue_comment handled");
    });
    app.on("workflow_run", async (context) => {
      const concerned = await receiveWorkflowRun(workflowRunEventSchema.parse(context.payload), store);
      if (concerned > 0) context.log.info({ delivery: context.id, run: context.payload.workflow_run.id, action: context.payload.action }, "workflow_run noted");
    });
    app.on(["pull_request.opened", "pull_request.reopened", "pull_request.synchronize"], async (context) => {
      await receivePullRequest(pullRequestEventSchema.parse(context.payload), store);
    });
    app.on("workflow_job", async (context) => {
      await receiveWorkflowJob(workflowJobEventSchema.parse(context.payload), store);
    });
    // GitHub's rate limits count per installation, over every instance: one budget in the store.
    const budget = new GitHubBudget(store, { writesPerWindow: settings.GITHUB_WRITES_PER_MINUTE, windowSeconds: 60 }, app.log);
    this.worker = new Worker({
      store,
      settings,
      workerId,
      octokitFor: async (installationId) => budget.wrap(await app.auth(installationId), installationId),
      log: app.log,
    });
    // `app.auth()` without an installation: the App's JWT, which the delivery log requires.
    this.redelivery = new RedeliveryLoop({ store, settings, workerId, appOctokit: () => app.auth(), log: app.log });
    addHandler(routes({ store, worker: () => this.worker, workerId, adminToken: this.options.adminToken }));
    if (this.options.startWorker ?? true) {
      this.worker.start();
      this.redelivery.start();
    }
  };

  async stop(): Promise<void> {
    await Promise.all([this.worker?.stop(), this.redelivery?.stop()]);
  }
}
