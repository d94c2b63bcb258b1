import type { DalError, ReplicationSql } from '@dal/core';

/** A WAL position ('16/B374D848') as a byte offset. */
function lsnBytes(lsn: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (match === null) throw new Error(`not a PostgreSQL WAL position: ${lsn}`);
  return (BigInt(`0x${match[1]!}`) << 32n) + BigInt(`0x${match[2]!}`);
}

function sqlStateOf(error: DalError): string | undefined {
  return (error as { sqlState?: string }).sqlState;
}

/**
 * Streaming replication on PostgreSQL: a standby is a server in recovery; positions are WAL LSNs
 * (written on the primary, replayed on a standby), so lag is counted in bytes. A write on a
 * standby fails with 25006; a read a standby cancels to apply WAL fails with 40001.
 */
export const postgresReplication: ReplicationSql = Object.freeze({
  stateSql:
    'SELECT pg_is_in_recovery() AS replica, (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS position',
  commitPositionSql: 'SELECT pg_current_wal_lsn()::text AS position',
  behind(target: string, replayed: string): { bytes: number } {
    const gap = lsnBytes(target) - lsnBytes(replayed);
    return { bytes: gap > 0n ? Number(gap) : 0 };
  },
  isReadOnlyError: (error: DalError): boolean => sqlStateOf(error) === '25006',
  isRecoveryConflict: (error: DalError): boolean => sqlStateOf(error) === '40001',
});
