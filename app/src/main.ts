/**
 * `npm start`, and the container image's command: the Bisect Bot GitHub App. Configuration comes
 * from the environment (see README: Probot's variables, the store's, and the App's own). SIGTERM
 * or SIGINT shut down gracefully: stop claiming, release leases, finish in-flight GitHub calls
 * within 10 s, exit 0.
 *
 * `migrate` as the only argument applies the database migrations (MIGRATION_DATABASE_URL, else
 * DATABASE_URL) and exits: the image's one-shot migration step.
 */
import { startServer } from "./server.js";
import { migrateDatabase } from "./store/open-store.js";
import { errorMessage } from "../../action/src/error-message.js";

const USAGE = `Usage: npm start [-- migrate], or in the container image: docker run <image> [migrate]
  (no argument)  start the App (environment: APP_ID, PRIVATE_KEY, WEBHOOK_SECRET, DATABASE_URL, ...)
  migrate        apply the database migrations (MIGRATION_DATABASE_URL, else DATABASE_URL) and exit`;

async function migrateAndExit(): Promise<never> {
  try {
    const { where, applied } = await migrateDatabase(process.env);
    console.log(
      applied.length === 0
        ? `${where}: no migration to apply, the schema is current`
        : `${where}: applied ${applied.length} migration(s): ${applied.join(", ")}`,
    );
    process.exit(0);
  } catch (error) {
    console.error(`Bisect Bot could not migrate: ${errorMessage(error)}`);
    process.exit(1);
  }
}

async function serve(): Promise<void> {
  try {
    const server = await startServer(process.env);
    console.log(`Bisect Bot listening on ${server.url} (worker ${server.workerId}), store: ${server.store.description}`);
    const shutdown = (signal: string) => {
      console.log(`${signal}: stopping (releasing leases, finishing in-flight calls)`);
      server.close().then(
        () => process.exit(0),
        (error) => {
          console.error(error);
          process.exit(1);
        },
      );
    };
    process.once("SIGTERM", () => shutdown("SIGTERM"));
    process.once("SIGINT", () => shutdown("SIGINT"));
  } catch (error) {
    console.error(`Bisect Bot could not start: ${errorMessage(error)}`);
    process.exit(1);
  }
}

const [command, ...rest] = process.argv.slice(2);
if (command === "migrate" && rest.length === 0) await migrateAndExit();
else if (command === undefined) await serve();
else {
  console.error(`Unknown argument '${process.argv.slice(2).join(" ")}'.\n${USAGE}`);
  process.exit(1);
}
