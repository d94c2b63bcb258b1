/**
 * Run a command with test servers chosen by `chooseTestServers`: the servers that answer at their
 * URLs, and containers (testcontainers) for those that do not when a container runtime exists.
 *
 *   node packages/test-utils/dist/with-test-servers.js npm test
 *
 * Prints which path was chosen for each server and why, runs the command with DAL_PG_URL,
 * DAL_MYSQL_URL (and DAL_MYSQL8_URL when there is one) set, stops the containers it started and
 * exits with the command's status; exits 1 without running it when a required server is missing.
 */
import { spawn } from 'node:child_process';
import { chooseTestServers, describeChoices, startTestServers } from './containers.js';

const command = process.argv.slice(2);
if (command.length === 0) {
  console.error('usage: node packages/test-utils/dist/with-test-servers.js <command> [args...]');
  process.exit(2);
}

// No top-level await: this entry is built as CommonJS too.
async function main(): Promise<number> {
  const choices = await chooseTestServers();
  for (const line of describeChoices(choices)) console.log(line);
  if (choices.some((c) => c.source === 'none' && c.spec.required)) return 1;

  const servers = await startTestServers(choices);
  let status = 1;
  try {
    const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env: { ...process.env, ...servers.env } });
    // Ctrl-C reaches the child through the terminal; stay alive to stop the containers after it.
    process.on('SIGINT', () => {});
    status = await new Promise<number>((resolve) => {
      child.once('error', (error) => {
        console.error(error.message);
        resolve(127);
      });
      child.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
    });
  } finally {
    await servers.stop();
  }
  return status;
}

main().then(
  (status) => process.exit(status),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
