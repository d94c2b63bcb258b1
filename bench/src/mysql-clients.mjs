#!/usr/bin/env node
// Issue #16, item 4: the MySQL/MariaDB clients a user could pick, point select by primary key on
// one pool size, interleaved in short rounds in one process: mysql2 `query` (text protocol),
// mysql2 `execute` (prepared), the MariaDB connector (`mariadb`, which can pipeline), and @dal.
//
//   node --expose-gc src/mysql-clients.mjs [--concurrency 64] [--rounds 5] [--ms 1000] [--pool 20]
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import mariadb from 'mariadb';
import { DatabaseConfig } from '@dal/core';
import { MysqlDatabase } from '@dal/driver-mysql';
import { interleavedSamples } from './lib/harness.mjs';
import { median } from './lib/stats.mjs';

const { values: args } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '5' },
    ms: { type: 'string', default: '1000' },
    pool: { type: 'string', default: '20' },
    url: { type: 'string', default: process.env.DAL_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test' },
  },
});
const ROWS = 10_000;
const POOL = Number(args.pool);
const url = new URL(args.url);
const connection = { host: url.hostname, port: Number(url.port || 3306), user: decodeURIComponent(url.username), password: decodeURIComponent(url.password), database: url.pathname.slice(1) };

const mysql2 = mysql.createPool({ ...connection, connectionLimit: POOL });
await mysql2.query('DROP TABLE IF EXISTS bench_mysql_clients');
await mysql2.query('CREATE TABLE bench_mysql_clients (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, score DOUBLE NOT NULL)');
await mysql2.query('INSERT INTO bench_mysql_clients (id, name, score) VALUES ?', [Array.from({ length: ROWS }, (_, i) => [i + 1, `row ${i + 1}`, (i + 1) / 7])]);
const maria = mariadb.createPool({ ...connection, connectionLimit: POOL });
const dal = new MysqlDatabase(DatabaseConfig.fromUrl(args.url, { alias: 'bench_mysql_clients', poolMax: POOL }));
const SQL = 'SELECT id, name, score FROM bench_mysql_clients WHERE id = ?';

/** @type {Record<string, (id: number) => Promise<unknown>>} */
const contenders = {
  'mysql2 query (raw)': (id) => mysql2.query(SQL, [id]),
  'mysql2 execute (prepared)': (id) => mysql2.execute(SQL, [id]),
  'mariadb query (pipelining on)': (id) => maria.query(SQL, [id]),
  'mariadb execute (prepared)': (id) => maria.execute(SQL, [id]),
  '@dal db.executeFirst': (id) => dal.executeFirst('SELECT [id], [name], [score] FROM [bench_mysql_clients] WHERE [id] = ?', [id]),
};

try {
  const samples = await interleavedSamples(contenders, { rounds: Number(args.rounds), ms: Number(args.ms), concurrency: Number(args.concurrency), rows: ROWS });
  const base = median(samples['mysql2 query (raw)'] ?? []);
  console.log(`| client (point select, concurrency ${args.concurrency}, pool ${POOL}) | median ops/s | ratio to mysql2 query |\n| --- | --- | --- |`);
  for (const name of Object.keys(contenders)) {
    const value = median(samples[name] ?? []);
    console.log(`| ${name} | ${Math.round(value).toLocaleString('en-US')} | ${(value / base).toFixed(2)} |`);
  }
} finally {
  await mysql2.query('DROP TABLE IF EXISTS bench_mysql_clients');
  await Promise.all([mysql2.end(), maria.end(), dal.close()]);
}
