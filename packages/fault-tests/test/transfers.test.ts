import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseConfig, type Database } from '@dal/core';
import { SqliteDatabase } from '@dal/driver-sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { Bank } from './bank.js';
import { closeQuietly, configFor, defaultConfigFor, inUse, kindOf, serverBackends, sleep, waitFor } from './support.js';

// Issue #3, item 6: nothing lost. Random transfers in transactions at concurrency 32 while
// sessions are killed and the server restarts; afterwards money is conserved and every
// transfer the caller saw committed is there.
const WORKERS = 32;
const HANG_MS = 20_000;
const bank = new Bank('fault_tests');

interface Tally {
  committed: string[];
  unknown: number;
  failed: Map<string, number>;
  hangs: number;
  committedAfter: (t: number) => number;
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
          bank.run(db, bank.randomTransfer(id), 5),
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

afterAll(async () => {
  for (const backend of serverBackends) await backend.start();
});

describe.each(serverBackends)('transfer workload under faults ($name)', (backend) => {
  it('kills every session, restarts the server: balances conserved, every commit present', async () => {
    // Default resilience settings: only the pool size is chosen.
    const config = defaultConfigFor(backend, { poolMin: 2, poolMax: 16 });
    const db = backend.open(config);
    let serverBackAt = Number.POSITIVE_INFINITY;
    try {
      await bank.create(db, 'BIGINT');
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
      await bank.checkBooks(db, tally.committed, tally.unknown);
      await waitFor(() => inUse(config) === 0, 4_000, 'inUse back to 0');
    } finally {
      await bank.drop(db).catch(() => undefined);
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
      await bank.create(db, 'INTEGER');
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
      await bank.checkBooks(db, tally.committed, tally.unknown);
      await waitFor(() => inUse(config) === 0, 4_000, 'inUse back to 0');
    } finally {
      await bank.drop(db).catch(() => undefined);
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
