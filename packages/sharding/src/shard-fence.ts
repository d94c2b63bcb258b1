/**
 * The write fence that makes a move hold the writes of every process, not only the mover's.
 *
 * Each physical database has a small table, one row per logical shard that was used on it:
 *
 * ```
 * dal_shard_fence(shard INT PRIMARY KEY, left_version BIGINT, frozen_until BIGINT)
 * ```
 *
 * - Every operation through a shard handle runs in a transaction that first reads its shard's
 *   row with a shared row lock (`FOR SHARE` on PostgreSQL, `LOCK IN SHARE MODE` on MySQL/MariaDB;
 *   SQLite's `BEGIN IMMEDIATE` takes the file's write lock). If `frozen_until` is in the future the
 *   operation backs off and retries (it never ran); if `left_version` is higher than the map
 *   version the process routed by, the shard has moved away: the operation fails with a retryable
 *   `StaleShardMapError`, or reloads the map (`loadMap`) and runs on the new database.
 * - The move sets `frozen_until` with an UPDATE, which waits for the row lock, so for every
 *   transaction of every process that already passed the check to commit: after it, no one
 *   writes the shard on the source. The final copy pass runs, then `left_version` is set to the
 *   new map version before the map is published, so a process that has not loaded the new map yet
 *   can never write to the source again.
 * - `frozen_until` is a lease (epoch ms of the mover's clock), so a mover that dies mid-move does
 *   not freeze the shard for ever; the mover gives up unless it sets `left_version` within half of
 *   the lease, which leaves the other half for clock differences between hosts.
 */
import { DalError, type Connection, type Database } from '@dal/core';
import { ShardMovingError, StaleShardMapError } from './errors.js';

export const FENCE_TABLE = 'dal_shard_fence';

/** The shared row lock a checking transaction takes, by backend (SQLite transactions hold the write lock already). */
const SHARE_LOCK: Readonly<Record<string, string>> = { postgres: ' FOR SHARE', pglite: ' FOR SHARE', mysql: ' LOCK IN SHARE MODE', sqlite: '' };

/** The fence row says the shard is frozen until `until` (epoch ms): back off and try again. */
export class FrozenByFence extends ShardMovingError {
  constructor(shard: number, database: string, readonly until: number) {
    super(`logical shard ${shard} is being moved off "${database}" by another process; the operation did not run (retry it)`, shard, 0);
  }
}

interface FenceRow {
  left_version: unknown;
  frozen_until: unknown;
}

/** Checks and updates the fence rows of every physical database one ShardedDatabase uses. */
export class ShardFence {
  /** Per database: the table's creation, and each shard's row creation, done once per process. */
  readonly #ready = new WeakMap<Database, { table: Promise<void>; rows: Map<number, Promise<void>> }>();

  /** Create the table and the shard's row if they are missing (once per process and database). */
  ensure(db: Database, shard: number): Promise<void> {
    let entry = this.#ready.get(db);
    if (entry === undefined) {
      entry = { table: createTable(db), rows: new Map() };
      entry.table.catch(() => this.#ready.delete(db)); // try again next time
      this.#ready.set(db, entry);
    }
    const { table, rows } = entry;
    let row = rows.get(shard);
    if (row === undefined) {
      row = table.then(() => createRow(db, shard));
      row.catch(() => rows.delete(shard));
      rows.set(shard, row);
    }
    return row;
  }

  /**
   * First statement of a checked transaction: lock the shard's row shared and read it.
   * @throws {FrozenByFence} while another process moves the shard.
   * @throws {StaleShardMapError} when the shard left this database at a newer map version.
   */
  async check(tx: Connection, backend: string, database: string, shard: number, mapVersion: number): Promise<void> {
    const row = await tx.executeFirst<FenceRow>(`SELECT [left_version], [frozen_until] FROM [${FENCE_TABLE}] WHERE [shard] = ?${SHARE_LOCK[backend] ?? ' FOR SHARE'}`, [shard]);
    if (row === undefined) throw new ShardMovingError(`the fence row of logical shard ${shard} is missing on "${database}" (was ${FENCE_TABLE} dropped?); retry`, shard, 0);
    const leftVersion = Number(row.left_version);
    if (leftVersion > mapVersion) {
      throw new StaleShardMapError(
        `logical shard ${shard} left "${database}" at shard map version ${leftVersion}; this process routes by version ${mapVersion}: load the newer map (the loadMap option does it) and retry`,
        shard,
        leftVersion,
      );
    }
    const until = Number(row.frozen_until);
    if (until > Date.now()) throw new FrozenByFence(shard, database, until);
  }

  /**
   * Freeze the shard on `db` for every process: waits (at most `timeoutMs`) until transactions
   * that passed the check have finished. Returns the row's `left_version` before, for `release`.
   */
  async freeze(db: Database, shard: number, until: number, timeoutMs: number): Promise<number> {
    await this.ensure(db, shard);
    await db.execute(`UPDATE [${FENCE_TABLE}] SET [frozen_until] = ? WHERE [shard] = ?`, [until, shard], { timeoutMs });
    const row = await db.executeFirst<FenceRow>(`SELECT [left_version], [frozen_until] FROM [${FENCE_TABLE}] WHERE [shard] = ?`, [shard]);
    return Number(row?.left_version ?? 0);
  }

  /** Record that the shard left `db` at map version `version` (still frozen). */
  async markLeft(db: Database, shard: number, version: number): Promise<void> {
    await db.execute(`UPDATE [${FENCE_TABLE}] SET [left_version] = ? WHERE [shard] = ?`, [version, shard]);
  }

  /** End the freeze, with `left_version` set back to `leftVersion` when given (a move called off). */
  async release(db: Database, shard: number, leftVersion?: number): Promise<void> {
    if (leftVersion === undefined) await db.execute(`UPDATE [${FENCE_TABLE}] SET [frozen_until] = 0 WHERE [shard] = ?`, [shard]);
    else await db.execute(`UPDATE [${FENCE_TABLE}] SET [frozen_until] = 0, [left_version] = ? WHERE [shard] = ?`, [leftVersion, shard]);
  }
}

const isCode = (error: unknown, code: string): boolean => DalError.isInstance(error) && error.code === code;

async function tableExists(db: Database): Promise<boolean> {
  try {
    await db.execute(`SELECT [shard] FROM [${FENCE_TABLE}] WHERE 1 = 0`);
    return true;
  } catch {
    return false;
  }
}

async function createTable(db: Database): Promise<void> {
  if (await tableExists(db)) return;
  try {
    await db.execute(`CREATE TABLE IF NOT EXISTS [${FENCE_TABLE}] ([shard] INT NOT NULL PRIMARY KEY, [left_version] BIGINT NOT NULL, [frozen_until] BIGINT NOT NULL)`);
  } catch (error) {
    // Two processes creating it at once: PostgreSQL can fail the second CREATE ... IF NOT EXISTS.
    if (!(await tableExists(db))) throw error;
  }
}

async function createRow(db: Database, shard: number): Promise<void> {
  if ((await db.executeFirst(`SELECT [shard] FROM [${FENCE_TABLE}] WHERE [shard] = ?`, [shard])) !== undefined) return;
  try {
    await db.execute(`INSERT INTO [${FENCE_TABLE}] ([shard], [left_version], [frozen_until]) VALUES (?, 0, 0)`, [shard]);
  } catch (error) {
    if (!isCode(error, 'DAL_UNIQUE_VIOLATION')) throw error; // another process inserted it first
  }
}
