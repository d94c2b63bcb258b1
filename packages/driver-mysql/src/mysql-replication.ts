import type { DalError, ReplicationSql } from '@dal/core';
import { isMariadbVersion } from './native-connection.js';

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

/** Transaction numbers `start` to `end`, both included. */
type Interval = readonly [start: bigint, end: bigint];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TAG = /^[a-z_][a-z0-9_]{0,31}$/i;
const INTERVAL = /^(\d+)(?:-(\d+))?$/;

/**
 * A MySQL GTID set ('3e11fa47-...:1-5:11-18,uuid2:1-27'; 8.3+ tags as in 'uuid:1-5:tag:1-3') as
 * the merged, sorted intervals of each source (server uuid, plus the tag of tagged GTIDs).
 */
function gtidSet(set: string): Map<string, Interval[]> {
  const invalid = () => new Error(`not a MySQL GTID set: ${set}`);
  const sources = new Map<string, Interval[]>();
  // Servers print a newline after each comma.
  for (const part of set.split(',')) {
    const text = part.trim();
    if (text === '') continue;
    const [uuid = '', ...items] = text.split(':');
    if (!UUID.test(uuid)) throw invalid();
    let source = uuid.toLowerCase();
    // A tag comes after the uuid or an interval, and intervals after it.
    let last: 'uuid' | 'tag' | 'interval' = 'uuid';
    for (const item of items) {
      if (TAG.test(item)) {
        if (last === 'tag') throw invalid();
        source = `${uuid.toLowerCase()}:${item.toLowerCase()}`;
        last = 'tag';
        continue;
      }
      const match = INTERVAL.exec(item);
      const start = match === null ? 0n : BigInt(match[1]!);
      const end = match?.[2] === undefined ? start : BigInt(match[2]);
      if (start < 1n || end < start) throw invalid();
      sources.set(source, [...(sources.get(source) ?? []), [start, end]]);
      last = 'interval';
    }
    if (last !== 'interval') throw invalid();
  }
  for (const [source, intervals] of sources) sources.set(source, merged(intervals));
  return sources;
}

/** Sorted, with overlapping and adjacent intervals joined. */
function merged(intervals: Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const [start, end] of sorted) {
    const last = out.at(-1);
    if (last !== undefined && start <= last[1] + 1n) last[1] = end > last[1] ? end : last[1];
    else out.push([start, end]);
  }
  return out;
}

/** How many transactions of GTID set `target` are not in GTID set `replayed`. */
export function missingTransactions(target: string, replayed: string): number {
  const have = gtidSet(replayed);
  let missing = 0n;
  for (const [source, wanted] of gtidSet(target)) {
    const got = have.get(source) ?? [];
    for (const [start, end] of wanted) {
      missing += end - start + 1n;
      // Both sides are merged: the overlaps are disjoint.
      for (const [from, to] of got) {
        const overlap = (to < end ? to : end) - (from > start ? from : start) + 1n;
        if (overlap > 0n) missing -= overlap;
      }
    }
  }
  return Number(missing);
}

/** Both flavours refuse a write on a read-only server with 1290 (the message names the option). */
const isReadOnlyError = (error: DalError): boolean => String((error as { vendorCode?: unknown }).vendorCode) === '1290' && /read.only/i.test(error.message);

/**
 * MariaDB GTID replication: a replica runs with `read_only`; positions are GTID lists (the
 * primary's binlog, what a replica applied), so lag is counted in transactions; a replica waits
 * for a position with `MASTER_GTID_WAIT`. A write on a read-only server fails with 1290 (the
 * application user must not have SUPER / READ_ONLY ADMIN, which bypass read_only).
 */
export const mariadbReplication: ReplicationSql = Object.freeze({
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
  isReadOnlyError,
});

/**
 * The server's GTID set, on one line (a token travels in cookies); NULL with GTIDs off, where the
 * set stays empty and would make every replica look caught up (core refuses such a token).
 */
const GTID_EXECUTED = "IF(@@GLOBAL.gtid_mode = 'ON', REPLACE(@@GLOBAL.gtid_executed, '\\n', ''), NULL)";

/**
 * MySQL GTID replication (`gtid_mode = ON`, 5.7.8+): a replica runs with `super_read_only` (or
 * `read_only`); a position is the server's `gtid_executed` set, which on a replica includes what
 * it applied, so lag is the number of transactions of the primary's set missing from the
 * replica's; a replica waits for a set with `WAIT_FOR_EXECUTED_GTID_SET` (0 when reached, 1 on
 * timeout). NOT tested against a real MySQL server: there is none on the machine this was
 * written on; parsing, counting and the SQL are unit-tested, and MariaDB runs the real tests.
 */
export const mysqlGtidReplication: ReplicationSql = Object.freeze({
  stateSql: `SELECT @@GLOBAL.read_only OR @@GLOBAL.super_read_only AS replica, ${GTID_EXECUTED} AS position`,
  commitPositionSql: `SELECT ${GTID_EXECUTED} AS position`,
  behind: (target: string, replayed: string): { transactions: number } => ({ transactions: missingTransactions(target, replayed) }),
  // A timeout of 0 would wait for ever; core also bounds the statement itself.
  waitForPosition: (position: string, timeoutMs: number) => ({ sql: 'SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS reached', params: [position, Math.max(timeoutMs, 1) / 1000] }),
  isReadOnlyError,
});

/** The flavour for a server, from the version its handshake reported ('10.11.19-MariaDB-...', '8.4.3'). */
export function replicationFor(serverVersion: string): ReplicationSql {
  return isMariadbVersion(serverVersion) ? mariadbReplication : mysqlGtidReplication;
}

/** The dialect's replication: MariaDB's until a connection tells core which server it is on. */
export const mysqlReplication: ReplicationSql = Object.freeze({ ...mariadbReplication, forServer: replicationFor });
