import { EntityError, type Connection } from '@dal/core';
import { contextOf } from './entities.js';
import { Budget, query, runAsync, transaction, type Op } from './executor.js';
import { copiedColumns, existingSchema, writeHistory } from './operations.js';
import type { EntityContext } from './schema.js';
import type { EntityCallOptions } from './types.js';

/** Options of `restoreEntitiesAsOf`. */
export interface RestoreAsOfOptions extends EntityCallOptions {
  /** Recorded as `updated_by` and `history_user_id` of the new versions. */
  userId?: string | null;
  /** Recorded as `history_comment` (default `restored as of <timestamp>`). */
  comment?: string | null;
}

/** What `restoreEntitiesAsOf` changed. */
export interface RestoreAsOfResult {
  /** Entities given back the fields they had at the time (including ones purged since). */
  restored: number;
  /** Entities created after the time, soft-deleted. */
  deleted: number;
}

/** Ids per statement. */
const IDS_PER_STATEMENT = 500;

interface Change {
  readonly id: string;
  /** The last version at or before the time, or null when the entity did not exist yet. */
  readonly asOf: number | null;
}

function* restoreOp(ctx: EntityContext, at: Date, options: RestoreAsOfOptions): Op<RestoreAsOfResult> {
  const schema = yield* existingSchema(ctx);
  const { q, typedParam } = ctx.sql;
  const { main, history } = ctx.tables;
  const when = ctx.sql.timestamp(at);
  const asOfVersion = `MAX(CASE WHEN ${q('history_timestamp')} <= ${typedParam('timestamp')} THEN ${q('version')} END)`;
  return yield* transaction(function* () {
    // The entities changed after the time: their last version is later than their version then.
    const changed = yield* query(
      `SELECT ${q('id')}, ${asOfVersion} AS ${q('as_of')} FROM ${q(history)} GROUP BY ${q('id')} HAVING MAX(${q('version')}) > COALESCE(${asOfVersion}, 0)`,
      [when, when],
    );
    const changes: Change[] = (changed.rows as Record<string, unknown>[]).map((row) => ({
      id: String(row['id']),
      asOf: row['as_of'] === null || row['as_of'] === undefined ? null : Number(row['as_of']),
    }));
    const now = ctx.sql.timestamp(new Date());
    const userId = options.userId ?? null;
    const comment = options.comment ?? `restored as of ${at.toISOString()}`;
    const columns = copiedColumns(schema);
    const result: RestoreAsOfResult = { restored: 0, deleted: 0 };
    const toRestore = changes.filter((c) => c.asOf !== null);
    for (let i = 0; i < toRestore.length; i += IDS_PER_STATEMENT) {
      const ids = toRestore.slice(i, i + IDS_PER_STATEMENT).map((c) => c.id);
      const list = ids.map(() => '?').join(', ');
      // The version of then replaces the row (or brings back a purged one), stamped as updated now.
      yield* query(`DELETE FROM ${q(main)} WHERE ${q('id')} IN (${list})`, ids);
      const values = columns.map((c) => (c === 'updated_at' ? typedParam('timestamp') : c === 'updated_by' ? typedParam('text') : `${q('h')}.${q(c)}`));
      yield* query(
        `INSERT INTO ${q(main)} (${columns.map(q).join(', ')}) SELECT ${values.join(', ')} FROM ${q(history)} ${q('h')} ` +
          `WHERE ${q('h')}.${q('id')} IN (${list}) AND ${q('h')}.${q('version')} = ` +
          `(SELECT MAX(${q('p')}.${q('version')}) FROM ${q(history)} ${q('p')} WHERE ${q('p')}.${q('id')} = ${q('h')}.${q('id')} AND ${q('p')}.${q('history_timestamp')} <= ${typedParam('timestamp')})`,
        [now, userId, ...ids, when],
      );
      yield* writeHistory(ctx, schema, ids, now, userId, comment, false);
      result.restored += ids.length;
    }
    const created = changes.filter((c) => c.asOf === null).map((c) => c.id);
    for (let i = 0; i < created.length; i += IDS_PER_STATEMENT) {
      const ids = created.slice(i, i + IDS_PER_STATEMENT);
      const list = ids.map(() => '?').join(', ');
      // Entities that did not exist then: soft-deleted (those already deleted or purged stay as they are).
      const live = yield* query(`SELECT ${q('id')} FROM ${q(main)} WHERE ${q('id')} IN (${list}) AND ${q('deleted_at')} IS NULL`, ids);
      const liveIds = (live.rows as Record<string, unknown>[]).map((row) => String(row['id']));
      if (liveIds.length === 0) continue;
      const liveList = liveIds.map(() => '?').join(', ');
      yield* query(`UPDATE ${q(main)} SET ${q('deleted_at')} = ?, ${q('updated_at')} = ?, ${q('updated_by')} = ? WHERE ${q('id')} IN (${liveList})`, [now, now, userId, ...liveIds]);
      yield* writeHistory(ctx, schema, liveIds, now, userId, comment, false);
      result.deleted += liveIds.length;
    }
    return result;
  });
}

/**
 * Rebuild an entity's rows as they were at `timestamp`, from its history (the original's
 * "rollback to date"), each change recorded as a new version, all in one transaction: an
 * entity changed since gets back the fields (and deleted state) of its last version at that
 * time, one purged since comes back, and one created since is soft-deleted. Entities unchanged
 * since are left alone. Resolves to how many were restored and deleted.
 *
 * ```ts
 * await restoreEntitiesAsOf(conn, 'users', new Date('2026-01-01T00:00:00Z'), { userId: 'admin' });
 * ```
 * @throws {EntityError} for an unknown entity or an invalid timestamp.
 */
export async function restoreEntitiesAsOf(conn: Connection, name: string, timestamp: Date, options: RestoreAsOfOptions = {}): Promise<RestoreAsOfResult> {
  const ctx = contextOf(conn, name);
  if (!(timestamp instanceof Date) || Number.isNaN(timestamp.getTime())) throw new EntityError(`${name}: restoreEntitiesAsOf needs a valid Date`);
  return runAsync(conn, restoreOp(ctx, timestamp, options), new Budget(conn, options));
}
