/**
 * The @dal quickstart: an embedded database, nothing to install or start (SQLite by default,
 * `--backend pglite` for PostgreSQL in WASM through the @dal/driver-pglite plugin). It opens a database through
 * the factory, writes and reads with portable SQL, uses a transaction, shows a typed error, keeps
 * entities with their history, shows a timeout that really stops a runaway statement (in a child
 * process), then prints the pool's status and serves its dashboard.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseConfig, DatabaseFactory, PoolManager, QueryTimeoutError, UniqueViolationError } from '@dal/core';
import '@dal/entities'; // adds saveEntity, getEntity, findEntities, ... to every connection
import { serveDashboard } from '@dal/metrics';

const backend = process.argv[process.argv.indexOf('--backend') + 1] === 'pglite' ? 'pglite' : 'sqlite';
if (backend === 'pglite') {
  // A plugin backend: importing its package registers 'pglite' with the factory.
  await import('@dal/driver-pglite');
}
const title = backend === 'pglite' ? 'PGlite' : 'SQLite';
// SQLite: one file; PGlite: a data directory.
const file = join(tmpdir(), `dal-quickstart-${process.pid}${backend === 'pglite' ? '-pglite' : '.db'}`);
const config = new DatabaseConfig({ database: file, alias: 'quickstart', env: 'dev', queryExecutionTimeoutMs: 5_000 });
const db = DatabaseFactory.createDatabase(backend, config);
const say = (line: string) => console.log(`  ${line}`);
const autoIncrementKey = backend === 'pglite' ? 'SERIAL PRIMARY KEY' : 'INTEGER PRIMARY KEY';

try {
  console.log(`@dal quickstart on ${title} (${file})`);
  await db.withConnection(async (conn) => {
    const { dbServerVersion, dbDriver } = await conn.getVersionDetails();
    say(`connected: ${title} ${dbServerVersion.split(' on ')[0]} through ${dbDriver}`);

    await conn.execute(`CREATE TABLE [users] ([id] ${autoIncrementKey}, [name] TEXT NOT NULL UNIQUE, [age] INTEGER, [department] TEXT)`);
    const saved = await conn.executeMany('INSERT INTO [users] ([name], [age]) VALUES (?, ?)', [
      ['Phil', 30],
      ['Karen', 25],
    ]);
    say(`inserted ${saved.affectedRows} users with executeMany (one transaction)`);

    await conn.transaction(async (tx) => {
      await tx.execute('UPDATE [users] SET [department] = ? WHERE [name] = ?', ['Engineering', 'Phil']);
      await tx.execute('INSERT INTO [users] ([name], [age], [department]) VALUES (?, ?, ?)', ['Bob', 24, 'Engineering']);
    });
    say('committed a transaction that updated Phil and added Bob');

    const engineers = await conn.execute<{ name: string; age: number }>(
      'SELECT [name], [age] FROM [users] WHERE [department] = ? ORDER BY [name] ASC',
      ['Engineering'],
      { tags: { operation: 'list_engineers' } },
    );
    say(`engineers: ${engineers.map((u) => `${u.name} (${u.age})`).join(', ')}`);

    try {
      await conn.execute('INSERT INTO [users] ([name]) VALUES (?)', ['Karen']);
    } catch (error) {
      if (!(error instanceof UniqueViolationError)) throw error;
      say(`a duplicate name is a typed error: ${error.name} (${error.code})`);
    }

    // Entities: no DDL, tables and columns appear on save, every save is a version.
    const [ada] = await conn.saveEntities('people', [{ name: 'Ada', age: 36 }, { name: 'Alan', age: 41 }], { userId: 'quickstart' });
    await conn.saveEntity('people', { id: ada!.id, department: 'Engineering', joined: new Date('1843-01-01') }, { comment: 'new field' });
    const again = await conn.getEntity('people', ada!.id, { deserialize: true });
    const history = await conn.getEntityHistory('people', ada!.id);
    say(`entity ${again!['name']} now in ${again!['department']}, ${history.length} versions, joined is a ${again!['joined']?.constructor.name}`);
  });

  // SQLite runs statements on this thread by default, like better-sqlite3 itself: the fastest way,
  // but nothing can interrupt a running statement. Where a timeout must really stop one, run the
  // connections in child processes: the timeout kills the child and the statement is gone.
  // (PGlite has no such mode: a running PGlite statement cannot be interrupted.)
  if (backend === 'sqlite') {
    const guarded = DatabaseFactory.createDatabase('sqlite', config.with({ alias: 'quickstart_guarded', driverOptions: { mode: 'process' } }));
    try {
      await guarded.execute('SELECT 1'); // opens the pool (a child process) before the clock starts
      const started = performance.now();
      try {
        await guarded.execute(
          'WITH RECURSIVE [n]([x]) AS (SELECT 1 UNION ALL SELECT [x] + 1 FROM [n] WHERE [x] < 1000000000) SELECT COUNT(*) FROM [n]',
          [],
          { timeoutMs: 200 },
        );
      } catch (error) {
        if (!(error instanceof QueryTimeoutError)) throw error;
        say(`a runaway statement was stopped after ${Math.round(performance.now() - started)} ms (mode 'process'): ${error.code}`);
      }
      const [count] = await guarded.execute<{ n: number }>('SELECT COUNT(*) AS [n] FROM [users]');
      say(`the database is usable right after: ${Number(count!.n)} users`);
    } finally {
      await guarded.close();
    }
  }

  const status = PoolManager.getPoolStatus(config.hash())!;
  say(
    `pool "${status.alias}": ${status.sizes.size} open, ${status.sizes.inUse} in use, ` +
      `${status.metrics.queries} statements, scaling advice: ${status.scaling.level} (${status.scaling.advice})`,
  );
  // The live pool page of @dal/metrics; pass --serve to keep it open and look at it in a browser.
  const page = await serveDashboard({ port: 0 });
  say(`pool dashboard: ${page.url} (Prometheus metrics at ${page.url}metrics)`);
  if (process.argv.includes('--serve')) {
    say('serving until Ctrl+C');
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
  await page.close();
  console.log('done.');
} finally {
  await db.close();
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true, recursive: true });
}
