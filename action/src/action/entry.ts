/** Entry of the Action (bundled to action/dist/index.js): all logic is in action-main.ts. */
import { run } from "./main.js";

await run();
