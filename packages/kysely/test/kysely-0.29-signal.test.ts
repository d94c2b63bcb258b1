// kysely 0.29 passes an AbortSignal down to the driver; 0.28 (the version the rest of the suite uses)
// has none. 0.29 asks for Node 22 in its engines but runs on Node 20 for this: its executor over
// DalDialect (whose adapter and compiler come from the installed 0.28) shows that the signal reaches
// @dal and that the statement is cancelled on the server.
import type { Database } from '@dal/core';
import { Kysely, sql } from 'kysely-0.29';
import { afterAll, describe, expect, it } from 'vitest';
import { DalDialect } from '../src/index.js';
import { eventually, stillTrueAfter, testBackends, uniqueMarker } from './backends.js';

const backends = testBackends().filter((b) => b.name !== 'sqlite');
afterAll(() => {
  for (const backend of backends) backend.cleanup();
});

describe.each(backends)("kysely 0.29's AbortSignal on $name", (backend) => {
  let db: Database | undefined;
  afterAll(() => db?.close());

  it('cancels the running statement on the server and gives the connection back', async () => {
    db = backend.open(`kysely029_${backend.name}`);
    const k = new Kysely<Record<string, never>>({ dialect: new DalDialect({ database: db }) as never });
    const marker = uniqueMarker('kysely029');
    const controller = new AbortController();
    const reason = new Error('the user went away');
    const run = sql.raw(backend.sleepSql(30, marker)).execute(k, { signal: controller.signal }).catch((e: unknown) => e);
    expect(await eventually(() => backend.isRunning(marker), 5_000)).toBe(true);
    const started = Date.now();
    controller.abort(reason);
    // kysely 0.29 rejects with the signal's reason; @dal cancels the statement underneath.
    expect(await run).toBe(reason);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await stillTrueAfter(() => backend.isRunning(marker), 3_000)).toBe(false);
    const { PoolManager } = await import('@dal/core');
    expect(await eventually(async () => (PoolManager.getPoolStatus(db!.config.hash())?.sizes.inUse ?? 0) === 0, 3_000)).toBe(true);
    // The same Kysely keeps working, with and without a signal.
    expect((await sql<{ one: number }>`SELECT 1 AS one`.execute(k, { signal: new AbortController().signal })).rows.map((r) => Number(r.one))).toEqual([1]);
  });
});
