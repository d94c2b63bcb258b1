import { QueryError } from '@dal/core';
import { describe, expect, it } from 'vitest';
import { postgresDialect } from '../src/index.js';

const replication = postgresDialect.replication!;

describe('postgres dialect: replication positions (WAL LSNs)', () => {
  it('counts the WAL bytes a standby lacks, across the 4 GB boundary of the high word', () => {
    expect(replication.behind('0/3000148', '0/3000148')).toEqual({ bytes: 0 });
    expect(replication.behind('0/3000148', '0/3000100')).toEqual({ bytes: 0x48 });
    expect(replication.behind('1/00000010', '0/FFFFFFF0')).toEqual({ bytes: 0x20 });
    expect(replication.behind('0/10', '16/B374D848')).toEqual({ bytes: 0 });
  });

  it('rejects what is not an LSN', () => {
    expect(() => replication.behind('0-1-42', '0/1')).toThrow(/not a PostgreSQL WAL position/);
  });

  it('recognises a write on a standby (25006) and a recovery conflict (40001)', () => {
    const error = (sqlState: string) => new QueryError('x', { dialect: 'postgres', sqlState });
    expect([replication.isReadOnlyError(error('25006')), replication.isReadOnlyError(error('42P01'))]).toEqual([true, false]);
    expect([replication.isRecoveryConflict!(error('40001')), replication.isRecoveryConflict!(error('25006'))]).toEqual([true, false]);
  });
});
