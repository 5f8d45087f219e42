#!/usr/bin/env node
// The bundled CLI is committed (action/dist/cli.js), so it runs after `npm ci` with no build step.
import "../action/dist/cli.js";
