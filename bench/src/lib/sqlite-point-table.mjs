import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/** Rows of the point-select table; ids run 1..POINT_ROWS. */
export const POINT_ROWS = 10_000;
/** The point select in @dal's portable form. */
export const PORTABLE_POINT_SELECT = 'SELECT [id], [name], [score] FROM [bench_point] WHERE [id] = ?';

/**
 * A fresh WAL database file in a temp directory with the point-select table filled, and a raw
 * better-sqlite3 connection with the point select prepared (the ceiling the hot-path scripts
 * measure @dal against). `close()` closes both connections and removes the directory.
 */
export function sqlitePointTable() {
  const dir = mkdtempSync(join(os.tmpdir(), 'dal-hot-path-'));
  const file = join(dir, 'hot.db');
  const admin = new Database(file);
  admin.pragma('journal_mode = WAL');
  admin.exec('CREATE TABLE bench_point (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL NOT NULL)');
  admin
    .prepare("INSERT INTO bench_point WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?) SELECT i, 'row ' || i, i / 7.0 FROM seq")
    .run(POINT_ROWS);
  const raw = new Database(file);
  const rawSelect = raw.prepare('SELECT id, name, score FROM bench_point WHERE id = ?');
  return {
    file,
    rawSelect,
    close() {
      raw.close();
      admin.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
