import { QueryError, type ReplicationSql } from '@dal/core';
import { describe, expect, it } from 'vitest';
import { mysqlDialect } from '../src/index.js';
import { mariadbReplication, missingTransactions, mysqlGtidReplication } from '../src/mysql-replication.js';
import { Harness } from './helpers.js';

const replication = mysqlDialect.replication!;
const flavourOf = (serverVersion: string): ReplicationSql => replication.forServer!(serverVersion);

describe('mysql dialect: replication positions (MariaDB GTIDs)', () => {
  it('counts the transactions a replica lacks, per replication domain', () => {
    expect(replication.behind('0-1-42', '0-1-42')).toEqual({ transactions: 0 });
    expect(replication.behind('0-1-42', '0-1-40')).toEqual({ transactions: 2 });
    expect(replication.behind('0-1-42,1-2-7', '0-1-42')).toEqual({ transactions: 7 });
    expect(replication.behind('0-1-42', '0-1-50,1-2-3')).toEqual({ transactions: 0 });
    // A fresh primary has no position: every replica has it.
    expect(replication.behind('', '')).toEqual({ transactions: 0 });
  });

  it('rejects what is not a GTID position', () => {
    expect(() => replication.behind('0/16B3748', '0-1-1')).toThrow(/not a MariaDB GTID position/);
  });

  it('recognises a write refused by read_only (1290), not other 1290s', () => {
    const readOnly = new QueryError('The MariaDB server is running with the --read-only option so it cannot execute this statement', { dialect: 'mysql', vendorCode: '1290' });
    const filePriv = new QueryError('The MariaDB server is running with the --secure-file-priv option so it cannot execute this statement', { dialect: 'mysql', vendorCode: '1290' });
    expect([replication.isReadOnlyError(readOnly), replication.isReadOnlyError(filePriv)]).toEqual([true, false]);
  });
});

// No MySQL server runs here: the MySQL flavour is checked on its parsing, arithmetic and SQL only.
describe('mysql dialect: the replication flavour follows the server', () => {
  it.each([
    ['10.11.19-MariaDB-0+deb12u1', mariadbReplication],
    ['11.4.2-MariaDB', mariadbReplication],
    ['8.4.3', mysqlGtidReplication],
    ['8.0.36-0ubuntu0.22.04.1', mysqlGtidReplication],
    ['8.0.35-27', mysqlGtidReplication], // Percona Server
  ])('%s', (version, flavour) => {
    expect(flavourOf(version)).toBe(flavour);
  });

  it('the dialect speaks MariaDB until a connection says otherwise, and both flavours judge 1290 alike', () => {
    expect(replication.stateSql).toBe(mariadbReplication.stateSql);
    const mysqlReadOnly = new QueryError('The MySQL server is running with the --super-read-only option so it cannot execute this statement', { dialect: 'mysql', vendorCode: '1290' });
    expect([mysqlGtidReplication.isReadOnlyError(mysqlReadOnly), replication.isReadOnlyError(mysqlReadOnly)]).toEqual([true, true]);
  });

  it('a connection to the test server (MariaDB) picks the MariaDB flavour, whose state SQL runs there', async () => {
    const harness = new Harness();
    try {
      const conn = await harness.connect();
      const flavour = flavourOf(await conn.serverVersion());
      expect(flavour).toBe(mariadbReplication);
      const { rows } = await conn.execute<Record<string, unknown>>(flavour.stateSql, [], { rowMode: 'object', timeoutMs: 5_000 });
      expect(Object.keys(rows[0] ?? {})).toEqual(['replica', 'position']);
    } finally {
      await harness.close();
    }
  });
});

describe('mysql dialect: MySQL GTID sets', () => {
  const A = '3E11FA47-71CA-11E1-9E33-C80AA9429562';
  const B = 'ed102faf-eb00-11eb-8f20-0c5415bfaa1d';

  it('counts the transactions of the target set missing from the replayed set', () => {
    expect(missingTransactions(`${A}:1-5:11-18,${B}:1-27`, `${A}:1-5:11-18,${B}:1-27`)).toBe(0);
    expect(missingTransactions(`${A}:1-5:11-18,${B}:1-27`, `${A}:1-5,${B}:1-20`)).toBe(8 + 7);
    // A source the replica never saw counts whole; what the replica has beyond the target does not count.
    expect(missingTransactions(`${A}:1-5,${B}:1-27`, `${A}:1-100`)).toBe(27);
    expect(missingTransactions(`${A}:1-5`, `${A}:1-100,${B}:1-3`)).toBe(0);
    // Holes in the middle, single transactions, overlaps split across intervals.
    expect(missingTransactions(`${A}:1-10`, `${A}:1-3:5:8-9`)).toBe(4); // 4, 6, 7, 10
    expect(missingTransactions(`${A}:4:6`, `${A}:1-5`)).toBe(1);
    // Empty sets: a primary that wrote nothing, a replica that applied nothing.
    expect(missingTransactions('', '')).toBe(0);
    expect(missingTransactions(`${A}:1-3`, '')).toBe(3);
  });

  it('reads sets the way servers print them: newlines after commas, any uuid case, unsorted or overlapping intervals', () => {
    expect(missingTransactions(`${A.toLowerCase()}:1-18,\n${B}:1-27`, `${A}:1-18,\n${B.toUpperCase()}:1-27`)).toBe(0);
    expect(missingTransactions(`${A}:11-18:1-5:3-12`, `${A}:1-18`)).toBe(0);
    expect(missingTransactions(`${A}:11-18:1-5:3-12`, '')).toBe(18);
  });

  it('counts tagged GTIDs (MySQL 8.3+) apart from untagged ones of the same server', () => {
    expect(missingTransactions(`${A}:1-5:domain_1:1-3`, `${A}:1-5`)).toBe(3);
    expect(missingTransactions(`${A}:domain_1:1-3`, `${A}:1-5`)).toBe(3);
    expect(missingTransactions(`${A}:1-5:Domain_1:1-3`, `${A}:1-5,${A}:domain_1:1-2`)).toBe(1);
  });

  it('counts past 2^53 without rounding the sequence numbers', () => {
    expect(missingTransactions(`${A}:1-9223372036854775806`, `${A}:1-9223372036854775800`)).toBe(6);
  });

  it.each([
    '0-1-42', // a MariaDB position
    '0/16B3748', // a PostgreSQL LSN
    `${A}`,
    `${A}:`,
    `${A}:0`,
    `${A}:5-3`,
    `${A}:1-x`,
    `${A}:tag`,
    `${A}:a:b:1`,
    `${A.slice(1)}:1-5`,
  ])('rejects %j', (bad) => {
    expect(() => mysqlGtidReplication.behind(bad, '')).toThrow(/not a MySQL GTID set/);
    expect(() => mysqlGtidReplication.behind('', bad)).toThrow(/not a MySQL GTID set/);
  });

  it('asks the server for gtid_executed and the read_only flags, and waits with WAIT_FOR_EXECUTED_GTID_SET in seconds', () => {
    expect(mysqlGtidReplication.stateSql).toBe(
      "SELECT @@GLOBAL.read_only OR @@GLOBAL.super_read_only AS replica, IF(@@GLOBAL.gtid_mode = 'ON', REPLACE(@@GLOBAL.gtid_executed, '\\n', ''), NULL) AS position",
    );
    expect(mysqlGtidReplication.commitPositionSql).toBe("SELECT IF(@@GLOBAL.gtid_mode = 'ON', REPLACE(@@GLOBAL.gtid_executed, '\\n', ''), NULL) AS position");
    expect(mysqlGtidReplication.behind(`${A}:1-18`, `${A}:1-5`)).toEqual({ transactions: 13 });
    expect(mysqlGtidReplication.waitForPosition!(`${A}:1-18`, 250)).toEqual({ sql: 'SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS reached', params: [`${A}:1-18`, 0.25] });
    // 0 seconds would mean "no timeout" to the server.
    expect(mysqlGtidReplication.waitForPosition!(`${A}:1-18`, 0).params[1]).toBe(0.001);
    expect(mysqlGtidReplication.isRecoveryConflict).toBeUndefined();
  });
});
