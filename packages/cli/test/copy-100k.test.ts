/**
 * Issue 19's "done when": a SQLite database of 100k entities with history is copied to
 * PostgreSQL and to MariaDB by `dal copy`, with matching row counts and checksums. (The entities
 * package tests the functions on small data; this is the one 100k run, through the binary.)
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServerDatabase, dal, seedEntities, tempDir, uniqueName, verificationRows, type ServerDatabase } from './helpers.js';

const ENTITY = 'cli_customers_100k';
const COUNT = 100_000;
// One history version per entity, and a second one for every tenth.
const HISTORY = COUNT + COUNT / 10;
const COPY_TIMEOUT_MS = 12 * 60_000;

describe('dal copy: 100k entities with history from SQLite', () => {
  const dir = tempDir();
  const source = `sqlite:${join(dir.path, 'app.db')}`;
  const targets: Record<string, ServerDatabase> = {};

  beforeAll(async () => {
    await seedEntities(source, ENTITY, COUNT);
    targets['postgres'] = await createServerDatabase('postgres', uniqueName('dal_cli_100k'));
    targets['mysql'] = await createServerDatabase('mysql', uniqueName('dal_cli_100k'));
  }, 5 * 60_000);
  afterAll(async () => {
    for (const target of Object.values(targets)) await target.drop();
    dir.remove();
  });

  it.each(['postgres', 'mysql'])(
    'to %s: exit 0, every table verified with equal row counts and checksums',
    async (backend) => {
      const { code, stdout, stderr } = await dal(['copy', source, targets[backend]!.url], { timeoutMs: COPY_TIMEOUT_MS });
      expect(stderr).toMatch(/^copied and verified 2 tables$/m);
      expect(code).toBe(0);
      const rows = verificationRows(stdout);
      expect(rows.map(([entity, table, sourceRows, targetRows, , , result]) => [entity, table, sourceRows, targetRows, result])).toEqual([
        [ENTITY, ENTITY, '100,000', '100,000', 'ok'],
        [ENTITY, `${ENTITY}_history`, HISTORY.toLocaleString('en-US'), HISTORY.toLocaleString('en-US'), 'ok'],
      ]);
      for (const row of rows) expect(row[5]).toBe(row[4]);
      // Not a terminal: progress comes as plain lines, closed by one summary per phase.
      expect(stderr).toMatch(new RegExp(`^done import ${ENTITY}: ${(COUNT + HISTORY).toLocaleString('en-US')} rows in `, 'm'));
      expect(stderr).not.toMatch(/[\r\u001b]/);
    },
    COPY_TIMEOUT_MS + 30_000,
  );
});
