/**
 * `dal <command> ...`: find the command, parse its arguments, run it, and turn whatever it throws
 * into one line on stderr and an exit code (0 success, 1 failure, 2 wrong usage).
 */
import { createRequire } from 'node:module';
import { DalError, DatabaseFactory, type Database, type Logger } from '@dal/core';
import { commandHelp, numberOption, parseCommand, UsageError, type CommandContext, type CommandSpec, type OptionValues } from './command.js';
import { copyCommand } from './commands/copy.js';
import { exportCommand } from './commands/export.js';
import { importCommand } from './commands/import.js';
import { migrateApplyCommand, migratePlanCommand } from './commands/migrate.js';
import { statusCommand } from './commands/status.js';
import { Output, type OutputStream } from './output.js';
import { DEFAULT_PROGRESS_EVERY_S, Progress } from './progress.js';

const COMMANDS: readonly CommandSpec[] = [exportCommand, importCommand, copyCommand, migratePlanCommand, migrateApplyCommand, statusCommand];

/** How long closing the databases may take at the end before the CLI gives up on them. */
const CLOSE_TIMEOUT_MS = 5_000;

const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

export interface CliIo {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  /** Aborted on Ctrl-C. */
  readonly signal: AbortSignal;
}

/** Run the CLI with `args` (without `node` and the script); resolves to the exit code. */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  const output = new Output(io.stdout, io.stderr);
  let spec: CommandSpec | undefined;
  const databases: Database[] = [];
  try {
    const found = findCommand(args);
    if (found === undefined) {
      if (args.length === 0 || args[0] === '--help' || args[0] === '-h' || args[0] === 'help') {
        output.text(mainHelp());
        return args.length === 0 ? EXIT.usage : EXIT.ok;
      }
      if (args[0] === '--version' || args[0] === '-v') {
        output.line(version());
        return EXIT.ok;
      }
      throw new UsageError(args[0] === 'migrate' ? 'migrate needs plan or apply' : `unknown command "${args[0]}"`);
    }
    spec = found.spec;
    const { positionals, values, help } = parseCommand(spec, found.rest);
    if (help) {
      output.text(commandHelp(spec));
      return EXIT.ok;
    }
    const context: CommandContext = {
      output,
      signal: io.signal,
      open(url) {
        output.protectUrl(url);
        const db = DatabaseFactory.fromUrl(url, { logger: cliLogger(output) });
        databases.push(db);
        return db;
      },
      progress: (options) => progressFor(options, output),
    };
    return await spec.run(positionals, values, context);
  } catch (error) {
    if (error instanceof UsageError) {
      const command = error.command ?? spec;
      output.note(`error: ${error.message}`);
      output.note(command === undefined ? 'Run dal --help for the commands.' : `Usage: ${command.usage}\nRun dal ${command.name} --help for details.`);
      return EXIT.usage;
    }
    output.note(errorLine(error));
    return EXIT.failure;
  } finally {
    await Promise.all(databases.map((db) => db.close({ timeoutMs: CLOSE_TIMEOUT_MS }).catch(() => undefined)));
  }
}

/** The command named by the first one or two words of `args`. */
function findCommand(args: readonly string[]): { spec: CommandSpec; rest: readonly string[] } | undefined {
  for (const spec of COMMANDS) {
    const words = spec.name.split(' ');
    if (words.every((word, i) => args[i] === word)) return { spec, rest: args.slice(words.length) };
  }
  return undefined;
}

/** `error DAL_CONNECTION: ...`: the code users can search for, and the message. */
function errorLine(error: unknown): string {
  if (DalError.isInstance(error)) return `error ${error.code}: ${oneLine(error.message)}`;
  if (error instanceof Error) return `error: ${oneLine(error.message)}`;
  return `error: ${oneLine(String(error))}`;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

function progressFor(values: OptionValues, output: Output): Progress | undefined {
  if (values['quiet'] === true) return undefined;
  const every = numberOption(values, 'progress-every') ?? DEFAULT_PROGRESS_EVERY_S;
  return new Progress(output, { tty: output.stderr.isTTY === true, everyMs: every * 1000 });
}

/**
 * Core's warnings (slow statements, long-held connections) on stderr, where they cannot mix with
 * exported data; each message once, since a bulk copy would repeat them for every batch.
 */
function cliLogger(output: Output): Logger {
  const shown = new Set<string>();
  const warn = (_data: Record<string, unknown>, message: string): void => {
    if (shown.has(message)) return;
    shown.add(message);
    // On a terminal, over the progress bar's line (the next update draws the bar again below).
    const clearBar = output.stderr.isTTY === true ? '\r\u001b[K' : '';
    output.note(`${clearBar}warning: ${oneLine(message)} (repeats not shown)`);
  };
  return { warn, error: warn };
}

function version(): string {
  return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
}

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'dal: move and manage @dal entity databases on PostgreSQL, MySQL/MariaDB and SQLite',
    '',
    'Usage: dal <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Databases are given as URLs:',
    '  postgres://user:password@host:5432/db   mysql://user:password@host:3306/db (or mariadb://)',
    '  sqlite:./file.db   sqlite:///absolute/path.db',
    'Each backend needs its driver installed beside the CLI: @dal/driver-postgres and pg,',
    '@dal/driver-mysql and mysql2, @dal/driver-sqlite and better-sqlite3.',
    '',
    'Run dal <command> --help for its options. Exit codes: 0 success, 1 failure, 2 wrong usage.',
    '',
  ].join('\n');
}
