import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@dal/core';
import { decodeId, SEQUENCE_BITS, ShardMap, ShardedDatabase } from '../src/index.js';

const dist = new URL('../dist/index.js', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'dal-shard-ids-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Two child processes that, once both have started, make ids for one key as fast as they can for
 * 150 ms from the same instant, and write them to files as 64-bit integers. With `sameClock` each
 * reads a clock that moves 1 ms every 300 reads from the same start instead of the real one: two
 * processes reading the same milliseconds, which a busy machine (2 cores shared by many) does not
 * reliably produce with real clocks.
 */
async function mintInChildren(name: string, sameClock: boolean, options: [object, object]): Promise<[bigint[], bigint[]]> {
  const clockBase = Date.now();
  const children = options.map((idOptions, i) => {
    const file = join(dir, `${name}-${i}.bin`);
    const script = `
      import { writeFileSync } from 'node:fs';
      import { ShardMap, ShardedDatabase } from ${JSON.stringify(dist)};
      const map = ShardMap.fromJSON({ version: 1, logicalShards: 64, databases: { db0: { backend: 'sqlite', config: { database: ':memory:' } } }, shards: { '0-63': 'db0' } });
      let reads = 0;
      const sameClock = ${String(sameClock)} ? { now: () => ${clockBase} + Math.floor(reads++ / 300) } : {};
      const sharded = new ShardedDatabase(map, { ...${JSON.stringify(idOptions)}, ...sameClock });
      process.stdin.once('data', async (line) => {
        const startAt = Number(String(line));
        const ids = [];
        while (Date.now() < startAt);
        if (sameClock.now) for (let i = 0; i < 30000; i++) ids.push(sharded.newId('tenant-shared'));
        else while (Date.now() < startAt + 150) ids.push(sharded.newId('tenant-shared'));
        writeFileSync(${JSON.stringify(file)}, new BigUint64Array(ids));
        await sharded.close();
        process.exit(0);
      });
      process.stdout.write('ready');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.on('exit', (code) => reject(new Error(`child exited ${String(code)} before starting: ${err}`)));
    });
    const done = new Promise<bigint[]>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code) => {
        if (code !== 0) return reject(new Error(`child exited ${String(code)}: ${err}`));
        const bytes = readFileSync(file);
        resolve([...new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8)]);
      });
    });
    return { child, ready, done };
  });
  try {
    await Promise.all(children.map((c) => c.ready));
    const startAt = Date.now() + 200;
    for (const { child } of children) child.stdin.end(String(startAt));
    return (await Promise.all(children.map((c) => c.done))) as [bigint[], bigint[]];
  } finally {
    for (const { child } of children) if (child.exitCode === null) child.kill();
  }
}

/** Two processes minting at once; returns their ids, the duplicates between them and the milliseconds both used. */
async function twoProcesses(name: string, sameClock: boolean, options: [object, object]): Promise<{ ids: [bigint[], bigint[]]; duplicates: number; sharedMs: number }> {
  const ids = await mintInChildren(name, sameClock, options);
  const first = new Set(ids[0]);
  const duplicates = ids[1].filter((id) => first.has(id)).length;
  const msOf = (list: bigint[]): Set<number> => new Set(list.map((id) => decodeId(id).timestamp.getTime()));
  const firstMs = msOf(ids[0]);
  const sharedMs = [...msOf(ids[1])].filter((ms) => firstMs.has(ms)).length;
  return { ids, duplicates, sharedMs };
}

describe('ids across processes', () => {
  const workers: [object, object] = [{ workerBits: 1, workerId: 0 }, { workerBits: 1, workerId: 1 }];
  const workerBit = 1 << (SEQUENCE_BITS - 1);

  it('never collide when each process has its own workerId (real clocks)', async () => {
    const { ids, duplicates } = await twoProcesses('real', false, workers);
    expect(ids[0].length + ids[1].length).toBeGreaterThan(1_000);
    expect(duplicates).toBe(0);
    // The worker id is the sequence's high bit; the rest counts within the millisecond.
    expect(ids[0].every((id) => (decodeId(id).sequence & workerBit) === 0)).toBe(true);
    expect(ids[1].every((id) => (decodeId(id).sequence & workerBit) === workerBit)).toBe(true);
    for (const list of ids) expect(new Set(list).size).toBe(list.length);
  });

  it('never collide with workerIds when the processes mint in the very same milliseconds, and do without', async () => {
    const apart = await twoProcesses('same-ms-workers', true, workers);
    expect(apart.sharedMs).toBe(100); // 30,000 ids, 300 per millisecond, in both processes
    expect(apart.duplicates).toBe(0);
    for (const list of apart.ids) expect(new Set(list).size).toBe(30_000);
    const alike = await twoProcesses('same-ms-no-workers', true, [{}, {}]);
    expect(alike.sharedMs).toBe(100);
    expect(alike.duplicates).toBe(30_000); // what workerId is for
  });

  it('reject a workerId outside 0 .. 2^workerBits - 1 and workerBits beyond the sequence with ConfigError', () => {
    const map = ShardMap.fromJSON({ version: 1, logicalShards: 4, databases: { db0: { backend: 'sqlite', config: { database: ':memory:' } } }, shards: { '0-3': 'db0' } });
    for (const options of [{ workerId: 1 }, { workerBits: 3, workerId: 8 }, { workerBits: 3, workerId: -1 }, { workerBits: 3, workerId: 1.5 }, { workerBits: 10 }, { workerBits: -1 }]) {
      expect(() => new ShardedDatabase(map, options)).toThrow(ConfigError);
    }
    void new ShardedDatabase(map, { workerBits: 9, workerId: 511 }).close();
  });
});
