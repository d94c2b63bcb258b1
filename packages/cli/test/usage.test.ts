/**
 * Help, usage errors, bad URLs and credentials: exit codes, one error line, and never a password.
 */
import { describe, expect, it } from 'vitest';
import { mysqlUrl, postgresUrl } from '@dal/test-utils';
import { dal } from './helpers.js';

const COMMANDS = ['export', 'import', 'copy', 'migrate plan', 'migrate apply', 'status'];
const PASSWORD = 'Wr0ng-Pa55word';

/** The URL with a password put in (replacing any). */
function withPassword(url: string, user?: string): string {
  const parsed = new URL(url);
  if (user !== undefined) parsed.username = user;
  parsed.password = PASSWORD;
  return parsed.href;
}

describe.concurrent('dal: help and usage', () => {
  it('dal --help lists every command and exits 0; dal alone shows it and exits 2', async () => {
    const help = await dal(['--help']);
    expect(help.code).toBe(0);
    for (const command of COMMANDS) expect(help.stdout).toContain(`  ${command}  `.replace(/ {2}$/, ''));
    expect(help.stdout).toContain('Exit codes: 0 success, 1 failure, 2 wrong usage');
    const bare = await dal([]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toContain('Usage: dal <command>');
  });

  it.each(COMMANDS)('dal %s --help shows its usage, options and examples', async (command) => {
    const { code, stdout, stderr } = await dal([...command.split(' '), '--help']);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(new RegExp(`^Usage: dal ${command} `));
    expect(stdout).toContain('-h, --help');
    expect(stdout).toContain(`Examples:\n  dal ${command} `);
  });

  it('dal --version prints the package version', async () => {
    const { code, stdout } = await dal(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it.each([
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['migrate'], 'migrate needs plan or apply'],
    [['export'], 'missing <url>'],
    [['copy', 'sqlite::memory:'], 'missing <to-url>'],
    [['status', 'sqlite::memory:', 'extra'], 'unexpected argument "extra"'],
    [['export', 'sqlite::memory:', '--bogus'], "Unknown option '--bogus'"],
    [['import', 'sqlite::memory:', 'x.jsonl', '--on-conflict', 'merge'], '--on-conflict must be one of fail, skip, replace, got "merge"'],
    [['export', 'sqlite::memory:', '--entities', ','], '--entities needs at least one name'],
    [['migrate', 'apply', 'sqlite::memory:'], '--entities <module> is required'],
    [['export', 'sqlite::memory:', '--progress-every', 'soon'], '--progress-every must be a positive number'],
  ])('dal %j is a usage error (exit 2): %s', async (args, message) => {
    const { code, stdout, stderr } = await dal(args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    const [first, second] = stderr.split('\n');
    expect(first).toMatch(/^error: /);
    expect(first).toContain(message);
    expect(second).toMatch(/^(Usage: dal |Run dal --help)/);
  });
});

describe('dal: bad URLs and credentials', () => {
  it('an unknown URL scheme is a DAL_CONFIG error on one line, exit 1', async () => {
    const { code, stdout, stderr } = await dal(['status', 'oracle://scott:tiger@db/orcl']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^error DAL_CONFIG: DatabaseConfig.fromUrl: unknown URL scheme "oracle"/);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).not.toContain('tiger');
  });

  it('a malformed URL does not echo its password', async () => {
    const { code, stderr } = await dal(['status', `postgres://postgres:${PASSWORD}@[::1`]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error DAL_CONFIG: /);
    expect(stderr).not.toContain(PASSWORD);
  });

  it('a wrong MariaDB password: DAL_CONNECTION, exit 1, no password anywhere', async () => {
    const { code, stdout, stderr } = await dal(['status', withPassword(mysqlUrl())], { timeoutMs: 30_000 });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error DAL_CONNECTION: .*Access denied/);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stdout + stderr).not.toContain(PASSWORD);
  });

  it('a PostgreSQL login that is refused: DAL_CONNECTION, exit 1, no password anywhere', async () => {
    // The test server trusts local connections, so a refused login is an unknown role here.
    const { code, stdout, stderr } = await dal(['copy', withPassword(postgresUrl(), 'dal_cli_no_such_role'), 'sqlite::memory:'], { timeoutMs: 30_000 });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error DAL_CONNECTION: .*dal_cli_no_such_role/);
    expect(stdout + stderr).not.toContain(PASSWORD);
  });

  it('a URL with a password that works is shown with the password masked', async () => {
    // Trust authentication accepts any password, so this one connects.
    const url = withPassword(postgresUrl());
    const { code, stdout, stderr } = await dal(['status', url], { timeoutMs: 30_000 });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(url.replace(PASSWORD, '***'));
    expect(stdout).not.toContain(PASSWORD);
  });
});
