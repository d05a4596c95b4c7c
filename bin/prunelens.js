#!/usr/bin/env node
'use strict';
// The CLI is bundled into dist/ by `npm run build`, which `npm ci` runs through the `prepare` script.
require('../dist/cli.js')
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
