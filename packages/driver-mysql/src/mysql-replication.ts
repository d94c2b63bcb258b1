import type { DalError, ReplicationSql } from '@dal/core';

/** A MariaDB GTID position ('0-1-42,1-2-7') as the last sequence number of each replication domain. */
function gtidSequences(position: string): Map<string, bigint> {
  const sequences = new Map<string, bigint>();
  for (const part of position.split(',')) {
    const gtid = part.trim();
    if (gtid === '') continue;
    const match = /^(\d+)-\d+-(\d+)$/.exec(gtid);
    if (match === null) throw new Error(`not a MariaDB GTID position: ${position}`);
    sequences.set(match[1]!, BigInt(match[2]!));
  }
  return sequences;
}

/**
 * MariaDB GTID replication: a replica runs with `read_only`; positions are GTID lists (the
 * primary's binlog, what a replica applied), so lag is counted in transactions; a replica waits
 * for a position with `MASTER_GTID_WAIT`. A write on a read-only server fails with 1290 (the
 * application user must not have SUPER / READ_ONLY ADMIN, which bypass read_only).
 * MySQL's GTID sets (uuid:1-42) are not supported.
 */
export const mysqlReplication: ReplicationSql = Object.freeze({
  stateSql: 'SELECT @@read_only AS replica, IF(@@read_only, @@gtid_slave_pos, @@gtid_binlog_pos) AS position',
  commitPositionSql: 'SELECT @@gtid_binlog_pos AS position',
  behind(target: string, replayed: string): { transactions: number } {
    const have = gtidSequences(replayed);
    let transactions = 0n;
    for (const [domain, sequence] of gtidSequences(target)) {
      const gap = sequence - (have.get(domain) ?? 0n);
      if (gap > 0n) transactions += gap;
    }
    return { transactions: Number(transactions) };
  },
  waitForPosition: (position: string, timeoutMs: number) => ({ sql: 'SELECT MASTER_GTID_WAIT(?, ?) AS reached', params: [position, timeoutMs / 1000] }),
  isReadOnlyError: (error: DalError): boolean => String((error as { vendorCode?: unknown }).vendorCode) === '1290' && /read.only/i.test(error.message),
});
