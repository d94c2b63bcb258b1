#!/usr/bin/env node
import { runCli } from './cli.js';

// First Ctrl-C: stop the work (the current batch rolls back) and exit cleanly; second: exit now.
const interrupt = new AbortController();
process.on('SIGINT', () => {
  if (interrupt.signal.aborted) process.exit(130);
  process.stderr.write('\ninterrupted: stopping (Ctrl-C again to quit at once)\n');
  interrupt.abort(new Error('interrupted'));
});

const code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, signal: interrupt.signal });
process.exitCode = code;
// Anything still holding the event loop (a driver's socket that will not close) must not keep
// the command from ending; unref'd, this timer does not itself delay a clean exit.
setTimeout(() => process.exit(code), 2_000).unref();
