#!/usr/bin/env node
// The CLI is bundled by `npm run build` (also run by `npm ci` through `prepare`).
import '../dist/cli.js';
