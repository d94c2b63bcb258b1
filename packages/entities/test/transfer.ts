/**
 * Export, import, copy and restore-as-of scenarios, run on each backend (transfer-*.test.ts).
 * Cross-backend copies start from a SQLite database, the "start on SQLite, move on" path.
 */
import { AbortedError, type Connection, type Database } from '@dal/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  copyEntities,
  ENTITY_EXPORT_FORMAT,
  entityChecksums,
  exportEntities,
  importEntities,
  restoreEntitiesAsOf,
} from '../src/index.js';
import { entitySqlOf } from '../src/entities.js';
import { listEntities } from '../src/transfer-format.js';
import { entityFixture, expectEntityError, sqliteTarget, type EntityTarget } from './helpers.js';

async function collect(lines: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const line of lines) out.push(line);
  return out;
}

/** The data lines of an export, sorted (backends order ids by different collations). */
function dataLines(lines: readonly string[]): string[] {
  return lines.slice(1).sort();
}

async function dropEntity(conn: Connection, name: string): Promise<void> {
  for (const table of [name, `${name}_history`, `${name}_meta`]) await conn.execute(`DROP TABLE IF EXISTS [${table}]`);
}

async function countRows(conn: Connection, table: string): Promise<number> {
  return Number((await conn.executeFirst<{ n: unknown }>(`SELECT COUNT(*) AS [n] FROM [${table}]`))?.n);
}

const BIG = 2n ** 60n + 7n;

/** Entities of every field type, with updates, a soft delete, an undelete and a purge in their history. */
async function seed(conn: Connection, name: string, count = 12): Promise<void> {
  const created = new Date('2025-03-04T05:06:07.891Z');
  const rows = Array.from({ length: count }, (_, i) => ({
    id: `e${String(i).padStart(3, '0')}`,
    title: `title ${i} "quoted" ünïcödé`,
    score: i + 0.25,
    count: i,
    big: BIG + BigInt(i),
    active: i % 2 === 0,
    born: new Date(created.getTime() + i * 1000),
    tags: { list: [i, 'x'], nested: { ok: true } },
    nothing: null,
    mixed: i,
  }));
  await conn.saveEntities(name, rows, { userId: 'seeder', comment: 'seed' });
  await conn.saveEntity(name, { id: 'e001', title: 'renamed', mixed: 'now text' }, { userId: 'editor', comment: 'edit' });
  await conn.saveEntity(name, { id: 'e002', score: -1.5e-7 });
  await conn.deleteEntity(name, 'e003', { userId: 'deleter' });
  await conn.deleteEntity(name, 'e004');
  await conn.restoreEntity(name, 'e004');
  await conn.deleteEntity(name, 'e005', { permanent: true });
}

export function describeTransferScenarios(target: EntityTarget): void {
  describe(`${target.name}: export / import / copy / restore as of`, () => {
    const fixture = entityFixture(target, `transfer-${target.name}`);

    it('round trip: export, drop, import, export again gives the same lines; ids, versions, timestamps and values exact', async () => {
      const { conn } = fixture;
      const name = fixture.entity('round');
      await seed(conn, name);
      const before = await conn.getEntity(name, 'e007', { deserialize: true });
      const historyBefore = await conn.getEntityHistory(name, 'e001', { deserialize: true });
      const first = await collect(exportEntities(conn, { entities: [name] }));
      const metadata = JSON.parse(first[0] as string) as { format: number; entities: { name: string; rows: number; history: number; fields: Record<string, { type: string }> }[] };
      expect(metadata.format).toBe(ENTITY_EXPORT_FORMAT);
      expect(metadata.entities[0]).toMatchObject({ name, rows: 11, history: 12 + 1 + 1 + 1 + 2 + 1 });
      expect(metadata.entities[0]?.fields).toMatchObject({ title: { type: 'string' }, big: { type: 'bigint' }, mixed: { type: 'mixed' }, nothing: { type: 'null' }, tags: { type: 'json' } });

      const withoutHistory = await collect(exportEntities(conn, { entities: [name], includeHistory: false }));
      expect(withoutHistory).toHaveLength(1 + 11);
      expect(withoutHistory.slice(1)).toEqual(first.slice(1, 12));
      // Without `entities`: every entity of the database, found by its three tables.
      const listed = await listEntities(conn, entitySqlOf(conn));
      expect(listed).toContain(name);
      expect(listed.some((table) => table.endsWith('_history') || table.endsWith('_meta'))).toBe(false);

      // Leaving early or aborting stops the read and leaves the connection usable.
      let taken = 0;
      for await (const _line of exportEntities(conn, { entities: [name], batchSize: 2 })) if (++taken === 3) break;
      const controller = new AbortController();
      const aborting = (async () => {
        for await (const _line of exportEntities(conn, { entities: [name], batchSize: 2, signal: controller.signal })) controller.abort();
      })();
      await expect(aborting).rejects.toBeInstanceOf(AbortedError);
      expect(await countRows(conn, name)).toBe(11);

      await dropEntity(conn, name);
      const result = await importEntities(conn, first);
      expect(result.entities[name]).toEqual({ rows: 11, history: 18, skipped: 0, unchanged: 0 });
      expect(result.lines).toBe(first.length);
      const second = await collect(exportEntities(conn, { entities: [name] }));
      expect(second.slice(1)).toEqual(first.slice(1));

      const after = await conn.getEntity(name, 'e007', { deserialize: true });
      expect(after).toEqual(before);
      expect(after?.['big']).toBe(BIG + 7n);
      expect(await conn.getEntityHistory(name, 'e001', { deserialize: true })).toEqual(historyBefore);
      expect((await conn.getEntity(name, 'e001', { deserialize: true }))?.['mixed']).toBe('now text');
      expect((await conn.getEntity(name, 'e003', { includeDeleted: true }))?.deleted_at).not.toBeNull();
      expect(await conn.getEntity(name, 'e005', { includeDeleted: true })).toBeNull();
      expect(await conn.getEntityHistory(name, 'e005')).toHaveLength(2);
      // Saves go on from the imported versions.
      await conn.saveEntity(name, { id: 'e001', title: 'after import' });
      expect((await conn.getEntityHistory(name, 'e001')).map((v) => v.version)).toEqual([1, 2, 3]);
    });

    it('import is resumable: a failing line or an abort leaves whole batches; running it again finishes without duplicates', async () => {
      const { conn } = fixture;
      const name = fixture.entity('resume');
      await seed(conn, name, 40);
      const lines = await collect(exportEntities(conn, { entities: [name] }));
      const sums = await entityChecksums(conn, { entities: [name] });
      await dropEntity(conn, name);

      const broken = [...lines.slice(0, 30), '{"type":"row", oops', ...lines.slice(30)];
      const error = await expectEntityError(() => importEntities(conn, broken, { batchSize: 10 }));
      expect(error.message).toMatch(/^line 31: malformed JSON/);
      // Lines 2-11, 12-21 and 22-31... : 20 written in two batches, the third (lines 22-30) was never written.
      expect(await countRows(conn, name)).toBe(20);

      const controller = new AbortController();
      let batches = 0;
      const aborted = importEntities(conn, lines, {
        batchSize: 10,
        signal: controller.signal,
        onProgress: () => {
          if (++batches === 3) controller.abort();
        },
      });
      await expect(aborted).rejects.toBeInstanceOf(AbortedError);
      expect(await countRows(conn, name)).toBe(30);

      const finished = await importEntities(conn, lines, { batchSize: 10 });
      expect(finished.entities[name]).toMatchObject({ rows: 39 - 30, skipped: 0, unchanged: 30 });
      expect(finished.entities[name]?.history).toBe(lines.length - 1 - 39);
      expect(await entityChecksums(conn, { entities: [name] })).toEqual(sums);
      // Once more, from bytes as a file would give them: everything is there already.
      const again = await importEntities(conn, lines.map((line) => Buffer.from(`${line}\n`)));
      expect(again.entities[name]).toMatchObject({ rows: 0, history: 0, unchanged: lines.length - 1 });
    });

    it('bad input: an EntityError naming the line or row, and nothing of the batch written', async () => {
      const { conn } = fixture;
      const name = fixture.entity('bad');
      await seed(conn, name, 5);
      const lines = await collect(exportEntities(conn, { entities: [name] }));
      await dropEntity(conn, name);
      const meta = JSON.parse(lines[0] as string) as Record<string, unknown>;
      const rowAt = (i: number): { type: string; entity: string; row: Record<string, unknown> } => JSON.parse(lines[i] as string) as never;
      const firstHistory = lines.findIndex((line) => line.includes('"type":"history"'));

      expect((await expectEntityError(() => importEntities(conn, ['{not json']))).message).toMatch(/^line 1: malformed JSON/);
      expect((await expectEntityError(() => importEntities(conn, [JSON.stringify({ ...meta, format: ENTITY_EXPORT_FORMAT + 1 })]))).message).toMatch(
        /^line 1: the file is export format 2, newer than/,
      );
      expect((await expectEntityError(() => importEntities(conn, ['{"type":"row"}']))).message).toMatch(/^line 1: not a @dal\/entities export/);
      expect((await expectEntityError(() => importEntities(conn, []))).message).toMatch(/empty/);

      const noId = rowAt(3);
      delete noId.row['id'];
      const missing = await expectEntityError(() => importEntities(conn, [...lines.slice(0, 3), JSON.stringify(noId), ...lines.slice(4)]));
      expect(missing.message).toMatch(/^line 4: .* row has no id/);
      expect(await countRows(conn, name)).toBe(0);

      const skip = rowAt(firstHistory + 1);
      skip.row['version'] = 3;
      const skipping = await expectEntityError(() => importEntities(conn, [...lines.slice(0, firstHistory + 1), JSON.stringify(skip), ...lines.slice(firstHistory + 2)]));
      expect(skipping.message).toContain(`line ${firstHistory + 2}: `);
      expect(skipping.message).toMatch(/skips from version 1 to 3|starts at version 3, not 1/);
      expect(await countRows(conn, name)).toBe(0);
      expect(await countRows(conn, `${name}_history`)).toBe(0);

      const badValue = rowAt(2);
      badValue.row['big'] = 'twelve';
      expect((await expectEntityError(() => importEntities(conn, [lines[0] as string, JSON.stringify(badValue)]))).message).toMatch(/^line 2: .*"big" must be an integer/);

      // The target holds different data: fail names the row; skip keeps it; replace takes the file's.
      await importEntities(conn, lines);
      await conn.execute(`UPDATE [${name}] SET [title] = ? WHERE [id] = ?`, ['changed in the target', 'e002']);
      const conflict = await expectEntityError(() => importEntities(conn, lines));
      expect(conflict.message).toMatch(/row "e002" is already in the target with different data/);
      const skipped = await importEntities(conn, lines, { onConflict: 'skip' });
      expect(skipped.entities[name]).toMatchObject({ rows: 0, skipped: 1 });
      expect((await conn.getEntity(name, 'e002'))?.['title']).toBe('changed in the target');
      const replaced = await importEntities(conn, lines, { onConflict: 'replace' });
      expect(replaced.entities[name]).toMatchObject({ rows: 1, skipped: 0 });
      expect((await conn.getEntity(name, 'e002'))?.['title']).toBe('title 2 "quoted" ünïcödé');

      // A field the target stores with another type: refused before anything changes.
      const other = fixture.entity('typed');
      await conn.saveEntity(other, { id: 'x', score: 'text, not a number' });
      const renamed = lines.map((line) => line.replaceAll(name, other));
      const typed = await expectEntityError(() => importEntities(conn, renamed));
      expect(typed.message).toMatch(/\.score: the target stores it as string, the file as number/);
      expect(await countRows(conn, other)).toBe(1);
    });

    it('restoreEntitiesAsOf rebuilds the rows of a time from history, as new versions', async () => {
      const { conn } = fixture;
      const name = fixture.entity('asof');
      const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 25));
      await conn.saveEntities(name, [
        { id: 'a', title: 'A1', n: 1 },
        { id: 'b', title: 'B1' },
        { id: 'd', title: 'D1' },
        { id: 'same', title: 'untouched' },
      ]);
      await conn.deleteEntity(name, 'b');
      await pause();
      const then = new Date();
      await pause();
      await conn.saveEntity(name, { id: 'a', title: 'A2', n: 2, added: 'later field' }, { userId: 'u' });
      await conn.restoreEntity(name, 'b');
      await conn.saveEntity(name, { id: 'c', title: 'C1' });
      await conn.deleteEntity(name, 'd', { permanent: true });

      const result = await restoreEntitiesAsOf(conn, name, then, { userId: 'admin' });
      expect(result).toEqual({ restored: 3, deleted: 1 });
      const a = await conn.getEntity(name, 'a', { deserialize: true });
      expect(a).toMatchObject({ title: 'A1', n: 1, added: null, updated_by: 'admin', created_by: null });
      expect(await conn.getEntity(name, 'b')).toBeNull();
      expect((await conn.getEntity(name, 'b', { includeDeleted: true }))?.['title']).toBe('B1');
      expect(await conn.getEntity(name, 'c')).toBeNull();
      expect((await conn.getEntity(name, 'd'))?.['title']).toBe('D1');
      const history = await conn.getEntityHistory(name, 'a');
      expect(history.map((v) => v.version)).toEqual([1, 2, 3]);
      expect(history[2]).toMatchObject({ title: 'A1', history_user_id: 'admin', history_comment: `restored as of ${then.toISOString()}` });
      expect(await conn.getEntityHistory(name, 'same')).toHaveLength(1);
      // Nothing changed since: nothing to do.
      expect(await restoreEntitiesAsOf(conn, name, new Date())).toEqual({ restored: 0, deleted: 0 });
      await expectEntityError(() => restoreEntitiesAsOf(conn, name, new Date('not a date')));
      await expectEntityError(() => restoreEntitiesAsOf(conn, fixture.entity('never'), then));
    });

    describe('copy from SQLite', () => {
      const source = sqliteTarget();
      let sourceDb: Database;
      let sourceConn: Connection;
      beforeAll(async () => {
        sourceDb = source.createDatabase(`transfer-source-${target.name}`);
        sourceConn = await sourceDb.connection();
      });
      afterAll(async () => {
        await sourceConn?.release();
        await sourceDb?.close();
        source.dispose();
      });

      it('copyEntities moves entities with history and verifies matching checksums', async () => {
        const name = fixture.entity('copied');
        const second = fixture.entity('copied2');
        await seed(sourceConn, name, 30);
        await sourceConn.saveEntity(second, { id: 'only', value: 1 });
        const progress: string[] = [];
        const result = await copyEntities(sourceDb, fixture.db, { entities: [name, second], batchSize: 16, onProgress: (p) => progress.push(p.phase) });
        expect(result.ok).toBe(true);
        expect(result.verification).toHaveLength(4);
        for (const table of result.verification) {
          expect(table.ok).toBe(true);
          expect(table.targetChecksum).toBe(table.sourceChecksum);
        }
        expect(result.verification[0]).toMatchObject({ entity: name, table: name, sourceRows: 29, targetRows: 29 });
        expect(progress).toContain('import');
        expect(progress).toContain('verify');
        const fromSource = await collect(exportEntities(sourceConn, { entities: [name, second] }));
        const fromTarget = await collect(exportEntities(fixture.conn, { entities: [name, second] }));
        expect(dataLines(fromTarget)).toEqual(dataLines(fromSource));
        expect((await fixture.conn.getEntity(name, 'e010', { deserialize: true }))?.['big']).toBe(BIG + 10n);

        // A changed target shows in the verification, and a second copy refuses to overwrite it.
        await fixture.conn.execute(`DELETE FROM [${second}_history]`);
        const again = await copyEntities(sourceDb, fixture.db, { entities: [second], onConflict: 'skip' });
        expect(again.ok).toBe(true);
        expect(again.entities[second]).toMatchObject({ history: 1, unchanged: 1 });
        await fixture.conn.saveEntity(second, { id: 'extra' });
        const differs = await copyEntities(sourceDb, fixture.db, { entities: [second] });
        expect(differs.ok).toBe(false);
        expect(differs.verification.find((t) => t.table === second)).toMatchObject({ sourceRows: 1, targetRows: 2, ok: false });
      });

      it('copyEntities into a target holding the first part of the rows (an interrupted copy) writes the rest and leaves that part alone', async () => {
        const name = fixture.entity('partial');
        // 40 entities, e005 purged: 39 rows; 40 first versions and 6 more in history.
        await seed(sourceConn, name, 40);
        await copyEntities(sourceDb, fixture.db, { entities: [name], verify: false });
        for (const table of [name, `${name}_history`]) await fixture.conn.execute(`DELETE FROM [${table}] WHERE [id] >= ?`, ['e020']);
        // Small batches: the first ones find their rows there and compare them, the later ones find none and insert.
        const result = await copyEntities(sourceDb, fixture.db, { entities: [name], batchSize: 8 });
        expect(result.entities[name]).toEqual({ rows: 20, history: 20, skipped: 0, unchanged: 19 + 26 });
        expect(result.ok).toBe(true);
        const fromSource = await collect(exportEntities(sourceConn, { entities: [name] }));
        const fromTarget = await collect(exportEntities(fixture.conn, { entities: [name] }));
        expect(dataLines(fromTarget)).toEqual(dataLines(fromSource));
      });
    });
  });
}
