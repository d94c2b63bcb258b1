#!/usr/bin/env node
// What the cross-process write fence costs a shard handle: `SELECT 1` and a one-statement
// transaction through a handle with the fence on and off, and straight on the database, on
// PostgreSQL and MariaDB/MySQL. One caller, sequential, interleaved in rounds in one process; the
// minimum of each contender's per-round mean is reported (the machine may be shared), with the
// statements (round trips) each operation sends, counted from core's `query` events. See
// docs/scaling.md, "The write fence".
//
//   pnpm --filter @dal/sharding build && node packages/sharding/bench/fence-cost.mjs [--backend postgres|mysql]... [--rounds 7] [--ops 300]
import { parseArgs } from 'node:util';
import { DatabaseConfig, DatabaseFactory, onDalEvent } from '@dal/core';
import '@dal/driver-postgres';
import '@dal/driver-mysql';
import { ShardMap, ShardedDatabase } from '../dist/index.js';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', multiple: true },
    rounds: { type: 'string', default: '7' },
    ops: { type: 'string', default: '300' },
  },
});
const urls = {
  postgres: process.env.DAL_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  mysql: process.env.DAL_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test',
};
const rounds = Number(args.rounds);
const ops = Number(args.ops);

async function measure(backend) {
  const name = `dal_fence_bench_${process.pid}`;
  const admin = DatabaseFactory.createDatabase(backend, DatabaseConfig.fromUrl(urls[backend], { alias: 'fence-bench-admin', poolMax: 1 }));
  const drop = backend === 'postgres' ? `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)` : `DROP DATABASE IF EXISTS \`${name}\``;
  await admin.execute(drop);
  await admin.execute(backend === 'postgres' ? `CREATE DATABASE "${name}"` : `CREATE DATABASE \`${name}\``);
  const url = new URL(urls[backend]);
  url.pathname = `/${name}`;
  const map = () => ShardMap.fromJSON({ version: 1, logicalShards: 4, databases: { db0: { url: url.toString(), config: { poolMax: 2 } } }, shards: { '0-3': 'db0' } });
  const fenced = new ShardedDatabase(map());
  const unfenced = new ShardedDatabase(map(), { fence: false });
  const plain = unfenced.database('db0');
  const contenders = {
    'SELECT 1, database': () => plain.execute('SELECT 1'),
    'SELECT 1, handle, fence off': () => unfenced.logicalShard(1).execute('SELECT 1'),
    'SELECT 1, handle, fence on': () => fenced.logicalShard(1).execute('SELECT 1'),
    'transaction, handle, fence off': () => unfenced.logicalShard(1).transaction((tx) => tx.execute('SELECT 1')),
    'transaction, handle, fence on': () => fenced.logicalShard(1).transaction((tx) => tx.execute('SELECT 1')),
  };
  const trips = {};
  const best = Object.fromEntries(Object.keys(contenders).map((label) => [label, Infinity]));
  try {
    for (const run of Object.values(contenders)) for (let i = 0; i < 50; i++) await run(); // warm-up
    for (const [label, run] of Object.entries(contenders)) {
      let sent = 0;
      const off = onDalEvent((event) => void (event.type === 'query' && sent++));
      for (let i = 0; i < 10; i++) await run();
      off();
      trips[label] = sent / 10;
    }
    for (let round = 0; round < rounds; round++) {
      for (const [label, run] of Object.entries(contenders)) {
        const started = process.hrtime.bigint();
        for (let i = 0; i < ops; i++) await run();
        const perOp = Number(process.hrtime.bigint() - started) / 1e6 / ops;
        best[label] = Math.min(best[label], perOp);
      }
    }
  } finally {
    await fenced.close();
    await unfenced.close();
    await admin.execute(drop);
    await admin.close();
  }
  console.log(`\n${backend}: ms per operation, one caller, best of ${rounds} rounds of ${ops}\n`);
  console.log('| operation | round trips | ms |\n|---|---|---|');
  for (const [label, ms] of Object.entries(best)) console.log(`| ${label} | ${trips[label]} | ${ms.toFixed(3)} |`);
}

for (const backend of args.backend ?? ['postgres', 'mysql']) await measure(backend);
