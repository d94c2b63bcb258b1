/**
 * `dal export`, `dal import` and `dal copy` on real databases: a round trip SQLite -> file ->
 * PostgreSQL, stdin and stdout, progress lines when stderr is not a terminal, and failures
 * (missing or malformed file, unknown entity, a copy that differs) that leave nothing behind.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, createServerDatabase, dal, seedEntities, tempDir, uniqueName, verificationRows, type ServerDatabase } from './helpers.js';

const ENTITY = 'cli_people';
const COUNT = 1_000;
// seedEntities gives every entity one history version, and every tenth a second.
const HISTORY = COUNT + COUNT / 10;
const fmt = (n: number): string => n.toLocaleString('en-US');

/** The data lines of an export, sorted: backends list ids in different orders. */
function dataLines(text: string): string[] {
  return text.trim().split('\n').slice(1).sort();
}

describe('dal export / import / copy', () => {
  const dir = tempDir();
  const source = `sqlite:${join(dir.path, 'source.db')}`;
  const file = join(dir.path, 'people.jsonl');
  let pg: ServerDatabase;

  beforeAll(async () => {
    pg = await createServerDatabase('postgres', uniqueName('dal_cli_transfer'));
    await seedEntities(source, ENTITY, COUNT);
  });
  afterAll(async () => {
    await pg?.drop();
    dir.remove();
  });

  it('round trip: SQLite -> file -> PostgreSQL, and PostgreSQL exports the same data lines', async () => {
    const exported = await dal(['export', source, '-o', file]);
    expect(exported.stdout).toBe('');
    expect(exported.code).toBe(0);
    expect(exported.stderr).toMatch(new RegExp(`^exported ${fmt(1 + COUNT + HISTORY)} lines to ${file.replace(/[.]/g, '\\.')}$`, 'm'));
    expect(existsSync(`${file}.partial`)).toBe(false);
    const text = readFileSync(file, 'utf8');
    expect(JSON.parse(text.split('\n')[0]!)).toMatchObject({ format: 1 });

    const imported = await dal(['import', pg.url, file]);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toMatch(new RegExp(`^${ENTITY}\\s+${fmt(COUNT)}\\s+${fmt(HISTORY)}\\s+0\\s+0$`, 'm'));

    // Importing the same file again finishes without duplicates (what a rerun after a failure does).
    const rerun = await dal(['import', pg.url, file]);
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toMatch(new RegExp(`^${ENTITY}\\s+0\\s+0\\s+0\\s+${fmt(COUNT + HISTORY)}$`, 'm'));
    const status = await dal(['status', pg.url]);
    expect(status.stdout).toMatch(new RegExp(`^${ENTITY}\\s+${ENTITY}\\s+${fmt(COUNT)}$`, 'm'));
    expect(status.stdout).toMatch(new RegExp(`^${ENTITY}\\s+${ENTITY}_history\\s+${fmt(HISTORY)}$`, 'm'));

    const back = await dal(['export', pg.url, '--quiet']);
    expect(back.code).toBe(0);
    expect(dataLines(back.stdout)).toEqual(dataLines(text));
  });

  it('--no-history and --entities choose what is exported; stdin feeds import', async () => {
    const { code, stdout } = await dal(['export', source, '--entities', ENTITY, '--no-history', '--quiet']);
    expect(code).toBe(0);
    expect(stdout.trim().split('\n')).toHaveLength(1 + COUNT);
    const target = `sqlite:${join(dir.path, 'from-stdin.db')}`;
    const imported = await dal(['import', target, '-'], { stdin: stdout });
    expect(imported.code).toBe(0);
    expect(imported.stdout).toMatch(new RegExp(`^${ENTITY}\\s+${fmt(COUNT)}\\s+0\\s+0\\s+0$`, 'm'));
  });

  it('without a terminal, progress is a line every --progress-every seconds and a summary per phase', async () => {
    const { code, stderr } = await dal(['export', source, '-o', join(dir.path, 'progress.jsonl'), '--progress-every', '0.001']);
    expect(code).toBe(0);
    const lines = stderr.trim().split('\n');
    expect(lines.some((line) => /^progress export cli_people: [\d,]+\/[\d,]+ rows \(\d+%\), [\d,]+ rows\/s/.test(line))).toBe(true);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^done export cli_people: ${fmt(COUNT + HISTORY)} rows in [\\d.]+s$`)));
    // No terminal control characters in a log.
    expect(stderr).not.toMatch(/[\r\u001b]/);
  });

  // `script` (util-linux) runs the command on a pseudo-terminal, as a user's shell would.
  const script = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!script)('on a terminal (needs util-linux script), progress is one bar redrawn in place', async () => {
    const target = join(dir.path, 'tty.jsonl');
    const run = spawnSync('script', ['-qec', `${process.execPath} ${BIN} export ${source} -o ${target}`, '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(0);
    const screen = run.stdout;
    const total = fmt(COUNT + HISTORY);
    expect(screen).toMatch(new RegExp(`\r\u001b\\[K\\[[#-]{24}\\] export cli_people: [\\d,]+/${total} rows \\(\\d+%\\)`));
    expect(screen).toMatch(new RegExp(`\r\u001b\\[K\\[#{24}\\] export cli_people: ${total}/${total} rows \\(100%\\), [\\d,]+ rows/s\r?\n`));
    expect(screen).not.toMatch(/^progress /m);
    expect(existsSync(target)).toBe(true);
  });

  it('a database without entities (a mistyped SQLite path) exports the metadata line and says so', async () => {
    const { code, stdout, stderr } = await dal(['export', `sqlite:${join(dir.path, 'typo.db')}`]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ type: 'metadata', entities: [] });
    expect(stderr).toBe('exported 1 lines (no entities found: is it the right database?)\n');
  });

  it('an unknown entity fails the export and leaves no file behind', async () => {
    const target = join(dir.path, 'none.jsonl');
    const { code, stderr } = await dal(['export', source, '-o', target, '--entities', 'cli_nobody']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error DAL_ENTITY: .*cli_nobody/m);
    expect(existsSync(target)).toBe(false);
    expect(existsSync(`${target}.partial`)).toBe(false);
  });

  it('a missing file, or a malformed line, fails the import with one line naming it', async () => {
    const target = `sqlite:${join(dir.path, 'bad-input.db')}`;
    const missing = await dal(['import', target, join(dir.path, 'missing.jsonl')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`error DAL_CONFIG: cannot read ${join(dir.path, 'missing.jsonl')}: no such file\n`);

    const malformed = join(dir.path, 'malformed.jsonl');
    writeFileSync(malformed, `${readFileSync(file, 'utf8').split('\n')[0]}\n{"not json\n`);
    const bad = await dal(['import', target, malformed, '--quiet']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error DAL_ENTITY: .*line 2/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('copy prints the verification table, and exits 1 when the target differs from the source', async () => {
    const target = `sqlite:${join(dir.path, 'differs.db')}`;
    // The target already holds one of the ids, saved at another time; "skip" keeps it, so the main
    // table differs (its checksum covers updated_at), while the history ids and versions match.
    await seedEntities(target, ENTITY, 1);
    const { code, stdout, stderr } = await dal(['copy', source, target, '--on-conflict', 'skip', '--quiet']);
    expect(code).toBe(1);
    const rows = verificationRows(stdout);
    expect(rows.map((row) => [row[0], row[1], row[6]])).toEqual([
      [ENTITY, ENTITY, 'DIFFERS'],
      [ENTITY, `${ENTITY}_history`, 'ok'],
    ]);
    expect(stderr).toBe(`error DAL_ENTITY: the copy differs from its source in ${ENTITY}\n`);
  });
});
