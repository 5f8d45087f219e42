/**
 * `npm start`: the Bisect Bot GitHub App. Configuration comes from the environment (see README:
 * Probot's variables, the store's, and the App's own). SIGTERM or SIGINT shut down gracefully:
 * stop claiming, release leases, finish in-flight GitHub calls within 10 s.
 */
import { startServer } from "./server.js";
import { errorMessage } from "../../action/src/error-message.js";

try {
  const server = await startServer(process.env);
  console.log(`Bisect Bot listening on ${server.url} (worker ${server.workerId})`);
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
