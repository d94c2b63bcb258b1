import { QueryError } from '@dal/core';
import { describe, expect, it } from 'vitest';
import { mysqlDialect } from '../src/index.js';

const replication = mysqlDialect.replication!;

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
