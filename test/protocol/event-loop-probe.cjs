// Loaded into the language server with `node --require` by the main-thread stall test and bench: a 2 ms timer
// on the server's own event loop; every tick's lateness (how long the thread was busy past the timer's due time)
// is appended to the file named by PRUNELENS_STALL_PROBE as "<wall-clock ms at the stall's start> <stall ms>".
// Every tick is written (a percentile needs the ticks that were on time too). The timer is unref'd: it never keeps the server alive. Worker threads
// inherit `--require`: the probe measures the main thread only (a worker's busy loop is the point of a worker).
'use strict';
const fs = require('node:fs');

const { isMainThread } = require('node:worker_threads');

const out = process.env.PRUNELENS_STALL_PROBE;
if (out && isMainThread) {
  const PERIOD_MS = 2;
  let last = performance.now();
  let lines = [];
  const tick = setInterval(() => {
    const now = performance.now();
    const late = now - last - PERIOD_MS;
    lines.push(`${(Date.now() - (now - last)).toFixed(0)} ${Math.max(0, late).toFixed(1)}`);
    last = now;
  }, PERIOD_MS);
  tick.unref();
  const flush = setInterval(() => {
    if (!lines.length) return;
    fs.appendFileSync(out, lines.join('\n') + '\n');
    lines = [];
  }, 100);
  flush.unref();
  process.on('exit', () => lines.length && fs.appendFileSync(out, lines.join('\n') + '\n'));
}
