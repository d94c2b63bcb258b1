import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseConfig, type Database } from '@dal/core';
import { SqliteDatabase } from '@dal/driver-sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { closeQuietly, configFor, inUse, kindOf, serverBackends, sleep, waitFor } from './support.js';

// Issue #3, item 6: nothing lost. Random transfers in transactions at concurrency 32 while
// sessions are killed and the server restarts; afterwards money is conserved and every
// transfer the caller saw committed is there.
const ACCOUNTS = 20;
const INITIAL = 1_000;
const WORKERS = 32;
const HANG_MS = 20_000;
const ACCOUNTS_TABLE = `fault_tests_accounts_${process.pid}`;
const TRANSFERS_TABLE = `fault_tests_transfers_${process.pid}`;

interface Tally {
  committed: string[];
  unknown: number;
  failed: Map<string, number>;
  hangs: number;
  committedAfter: (t: number) => number;
}

async function createTables(db: Database, amountType: string): Promise<void> {
  await db.execute(`DROP TABLE IF EXISTS [${TRANSFERS_TABLE}]`);
  await db.execute(`DROP TABLE IF EXISTS [${ACCOUNTS_TABLE}]`);
  await db.execute(`CREATE TABLE [${ACCOUNTS_TABLE}] ([id] INTEGER PRIMARY KEY, [balance] ${amountType} NOT NULL)`);
  await db.execute(
    `CREATE TABLE [${TRANSFERS_TABLE}] ([id] VARCHAR(40) PRIMARY KEY, [from_id] INTEGER NOT NULL, [to_id] INTEGER NOT NULL, [amount] ${amountType} NOT NULL)`,
  );
  await db.withConnection((conn) =>
    conn.executeMany(
      `INSERT INTO [${ACCOUNTS_TABLE}] ([id], [balance]) VALUES (?, ?)`,
      Array.from({ length: ACCOUNTS }, (_, i) => [i + 1, INITIAL]),
    ),
  );
}

async function dropTables(db: Database): Promise<void> {
  await db.execute(`DROP TABLE IF EXISTS [${TRANSFERS_TABLE}]`);
  await db.execute(`DROP TABLE IF EXISTS [${ACCOUNTS_TABLE}]`);
}

/** One transfer: both balance updates (lower id first, so no lock-order deadlocks) and its log row. */
function transfer(db: Database, id: string): Promise<void> {
  const from = 1 + Math.floor(Math.random() * ACCOUNTS);
  const to = 1 + ((from + Math.floor(Math.random() * (ACCOUNTS - 1))) % ACCOUNTS);
  const amount = 1 + Math.floor(Math.random() * 50);
  const [first, firstDelta, second, secondDelta] = from < to ? [from, -amount, to, amount] : [to, amount, from, -amount];
  return db.withConnection((conn) =>
    conn.transaction(
      async (tx) => {
        await tx.execute(`UPDATE [${ACCOUNTS_TABLE}] SET [balance] = [balance] + ? WHERE [id] = ?`, [firstDelta, first]);
        await tx.execute(`UPDATE [${ACCOUNTS_TABLE}] SET [balance] = [balance] + ? WHERE [id] = ?`, [secondDelta, second]);
        await tx.execute(`INSERT INTO [${TRANSFERS_TABLE}] ([id], [from_id], [to_id], [amount]) VALUES (?, ?, ?, ?)`, [id, from, to, amount]);
      },
      { retry: { maxRetries: 5 } },
    ),
  );
}

/** Run WORKERS loops of transfers until `stop()` resolves; every call bounded by HANG_MS. */
async function runWorkload(db: Database, stop: Promise<void>): Promise<Tally> {
  const committed: Array<{ id: string; at: number }> = [];
  const failed = new Map<string, number>();
  let unknown = 0;
  let hangs = 0;
  let running = true;
  void stop.finally(() => {
    running = false;
  });
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; running && i < 100_000; i += 1) {
      const id = `${w}-${i}`;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          transfer(db, id),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('HANG')), HANG_MS);
          }),
        ]);
        committed.push({ id, at: performance.now() });
      } catch (error) {
        const kind = kindOf(error);
        if (error instanceof Error && error.message === 'HANG') hangs += 1;
        else if (kind === 'TransactionError') unknown += 1;
        failed.set(kind, (failed.get(kind) ?? 0) + 1);
        await sleep(20);
      } finally {
        clearTimeout(timer);
      }
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  return {
    committed: committed.map((c) => c.id),
    unknown,
    failed,
    hangs,
    committedAfter: (t) => committed.filter((c) => c.at > t).length,
  };
}

/** Money conserved, every seen commit present, and every balance explained by the log. */
async function checkLedger(db: Database, tally: Tally): Promise<void> {
  const total = await db.execute<{ s: number | string }>(`SELECT SUM([balance]) AS [s] FROM [${ACCOUNTS_TABLE}]`);
  expect(Number(total[0]!.s)).toBe(ACCOUNTS * INITIAL);
  const logged = await db.execute<{ id: string; from_id: number; to_id: number; amount: number | string }>(
    `SELECT [id], [from_id], [to_id], [amount] FROM [${TRANSFERS_TABLE}]`,
  );
  const present = new Set(logged.map((row) => row.id));
  expect(tally.committed.filter((id) => !present.has(id))).toEqual([]);
  // Only transfers whose outcome the caller could not know may be in the log without a seen commit.
  expect(logged.length - tally.committed.length).toBeLessThanOrEqual(tally.unknown);
  const expected = new Map<number, number>(Array.from({ length: ACCOUNTS }, (_, i) => [i + 1, INITIAL]));
  for (const row of logged) {
    expected.set(Number(row.from_id), expected.get(Number(row.from_id))! - Number(row.amount));
    expected.set(Number(row.to_id), expected.get(Number(row.to_id))! + Number(row.amount));
  }
  const balances = await db.execute<{ id: number; balance: number | string }>(`SELECT [id], [balance] FROM [${ACCOUNTS_TABLE}] ORDER BY [id]`);
  expect(balances.map((row) => [Number(row.id), Number(row.balance)])).toEqual([...expected.entries()].sort((a, b) => a[0] - b[0]));
}

afterAll(async () => {
  for (const backend of serverBackends) await backend.start();
});

describe.each(serverBackends)('transfer workload under faults ($name)', (backend) => {
  it('kills every session, restarts the server: balances conserved, every commit present', async () => {
    const config = configFor(backend, {
      poolMin: 2,
      poolMax: 16,
      connectionCreationTimeoutMs: 2_000,
      connectionAcquisitionTimeoutMs: 5_000,
      queryExecutionTimeoutMs: 5_000,
      retry: { maxRetries: 3, baseDelayMs: 100, totalTimeoutMs: 3_000 },
      circuitBreaker: { failureThreshold: 10, recoveryTimeoutMs: 1_000, halfOpenMaxCalls: 4, windowSizeMs: 5_000 },
    });
    const db = backend.open(config);
    let serverBackAt = Number.POSITIVE_INFINITY;
    try {
      await createTables(db, 'BIGINT');
      let finish!: () => void;
      const stop = new Promise<void>((resolve) => {
        finish = resolve;
      });
      const workload = runWorkload(db, stop);
      let tally: Tally;
      try {
        await sleep(1_500);
        expect(await backend.killAll()).toBeGreaterThan(0);
        await sleep(1_500);
        await backend.stop();
        await sleep(1_000);
        await backend.start();
        serverBackAt = performance.now();
        await sleep(4_000);
      } finally {
        finish();
        tally = await workload;
        await backend.start();
      }
      expect(tally.hangs).toBe(0);
      expect([...tally.failed.keys()].filter((kind) => kind.startsWith('untyped') || kind.startsWith('non-error'))).toEqual([]);
      // Faults really hit the workload, and it recovered after the restart.
      expect([...tally.failed.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      expect(tally.committedAfter(serverBackAt)).toBeGreaterThan(0);
      await checkLedger(db, tally);
      await waitFor(() => inUse(config) === 0, 4_000, 'inUse back to 0');
    } finally {
      await dropTables(db).catch(() => undefined);
      await closeQuietly(db);
    }
  }, 120_000);
});

describe('transfer workload under faults (sqlite file)', () => {
  it('SIGKILLs connection processes mid-run: balances conserved, every commit present', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dal-fault-tests-'));
    const config = new DatabaseConfig({
      database: join(dir, 'transfers.db'),
      alias: `fault_sqlite_${process.pid}`,
      env: 'test',
      poolMin: 1,
      poolMax: 4,
      connectionAcquisitionTimeoutMs: 10_000,
      queryExecutionTimeoutMs: 10_000,
      // One child process per connection, so that there is something to kill.
      driverOptions: { mode: 'process' },
    });
    const db = new SqliteDatabase(config);
    try {
      await createTables(db, 'INTEGER');
      let finish!: () => void;
      const stop = new Promise<void>((resolve) => {
        finish = resolve;
      });
      const workload = runWorkload(db, stop);
      let tally: Tally;
      let killedAt = Number.POSITIVE_INFINITY;
      try {
        await sleep(1_500);
        // Each pooled connection runs in a child process of this one ('process' mode): kill them hard.
        const children = childPids();
        expect(children.length).toBeGreaterThan(0);
        for (const pid of children) process.kill(pid, 'SIGKILL');
        killedAt = performance.now();
        await sleep(3_000);
      } finally {
        finish();
        tally = await workload;
      }
      expect(tally.hangs).toBe(0);
      expect([...tally.failed.keys()].filter((kind) => kind.startsWith('untyped') || kind.startsWith('non-error'))).toEqual([]);
      // The kills hit transactions in flight, and new connection processes took over.
      expect([...tally.failed.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
      expect(tally.committedAfter(killedAt)).toBeGreaterThan(0);
      await checkLedger(db, tally);
      await waitFor(() => inUse(config) === 0, 4_000, 'inUse back to 0');
    } finally {
      await dropTables(db).catch(() => undefined);
      await closeQuietly(db);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

/** Node child processes of this test process (the SQLite connection processes). */
function childPids(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, comm]) => comm === 'node')
    .map(([pid]) => Number(pid))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}
