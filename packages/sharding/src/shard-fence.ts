/**
 * The write fence that makes a move hold the writes of every process, not only the mover's.
 *
 * Each physical database has a small table, one row per logical shard that was used on it:
 *
 * ```
 * dal_shard_fence(shard INT PRIMARY KEY, left_version BIGINT, frozen_until BIGINT)
 * ```
 *
 * - Every operation through a shard handle first takes a shared lock on its shard, then reads the
 *   row, and keeps the lock until it is done. On PostgreSQL that is an advisory lock (held in
 *   memory: a read stays a read, no commit to flush), taken with the row read in one round trip: a
 *   session lock (`pg_advisory_lock_shared(FENCE_LOCK_KEY, shard)`) around a statement, unlocked
 *   after it; a transaction lock as the first statement of a transaction whose isolation level
 *   gives each statement its own snapshot (see advisorySql), released by its commit. Elsewhere the operation runs in a transaction whose first
 *   statement reads the row with a shared row lock (`LOCK IN SHARE MODE` on MySQL/MariaDB, where it
 *   costs no disk write; SQLite's `BEGIN IMMEDIATE` holds the file's write lock). If `frozen_until`
 *   is in the future the operation backs off and retries (it never ran); if `left_version` is
 *   higher than the map version the process routed by, the shard has moved away: the operation
 *   fails with a retryable `StaleShardMapError`, or reloads the map (`loadMap`) and runs on the new
 *   database.
 * - The move sets `frozen_until` while holding the lock exclusively (PostgreSQL) or with an UPDATE,
 *   which waits for the row lock: either waits for every operation of every process that already
 *   passed the check to finish, and after it no one writes the shard on the source. The final copy
 *   pass runs, then `left_version` is set to the
 *   new map version before the map is published, so a process that has not loaded the new map yet
 *   can never write to the source again.
 * - `frozen_until` is a lease (epoch ms of the mover's clock), so a mover that dies mid-move does
 *   not freeze the shard for ever; the mover gives up unless it sets `left_version` within half of
 *   the lease, which leaves the other half for clock differences between hosts.
 */
import { DalError, type Connection, type Database, type TransactionOptions } from '@dal/core';
import { ShardKeyError, ShardMovingError, StaleShardMapError } from './errors.js';

export const FENCE_TABLE = 'dal_shard_fence';
/** First key of the PostgreSQL advisory locks (the second is the shard): 'dals' in ASCII. */
export const FENCE_LOCK_KEY = 0x64616c73;

/**
 * The shared row lock a checking transaction takes, by backend (SQLite transactions hold the write
 * lock already). PostgreSQL (the server) uses advisory locks instead: a row lock there gives the
 * transaction an id, and its commit a WAL flush, even for a read.
 */
const SHARE_LOCK: Readonly<Record<string, string>> = { pglite: ' FOR SHARE', mysql: ' LOCK IN SHARE MODE', sqlite: '' };
const ADVISORY = 'postgres';

/** Which shard a fenced operation is for, and how it was routed. */
export interface FenceTarget {
  backend: string;
  /** The database's name in the map. */
  database: string;
  shard: number;
  /** The map version the operation was routed by. */
  mapVersion: number;
}

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

/**
 * PostgreSQL isolation levels in which each statement takes its own snapshot (READ UNCOMMITTED
 * runs as READ COMMITTED): a transaction in one can take the fence's lock as its first statement
 * and read the row after the grant. REPEATABLE READ and SERIALIZABLE take one snapshot at the first
 * statement, before the lock wait.
 */
const SNAPSHOT_PER_STATEMENT = new Set(['read committed', 'read uncommitted']);

/** Thrown inside `hold` (and caught there) when a fenced transaction turns out to run with one snapshot throughout. */
class OneSnapshotPerTransaction extends Error {}

/** Checks and updates the fence rows of every physical database one ShardedDatabase uses. */
export class ShardFence {
  /** Per database: the table's creation, and each shard's row creation, done once per process. */
  readonly #ready = new WeakMap<Database, { table: Promise<void>; rows: Map<number, Promise<void>> }>();
  /** PostgreSQL databases whose default isolation level takes one snapshot per transaction. */
  readonly #oneSnapshotByDefault = new WeakSet<Database>();

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
   * Run `body` on a connection of `db` that holds the shard's fence shared, after checking the
   * row. `body` runs in a transaction when `transaction` is given, and always on backends whose
   * lock is a row lock.
   * @throws {FrozenByFence} while another process moves the shard (`body` did not run).
   * @throws {StaleShardMapError} when the shard left this database at a newer map version (`body` did not run).
   */
  async hold<T>(db: Database, target: FenceTarget, transaction: TransactionOptions | undefined, body: (conn: Connection) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    await this.ensure(db, target.shard);
    const acquire = signal === undefined ? {} : { signal };
    if (target.backend !== ADVISORY) {
      return db.withConnection(
        (conn) =>
          conn.transaction(async (tx) => {
            await this.#check(tx, target, SHARE_LOCK[target.backend] ?? ' FOR SHARE');
            return body(tx);
          }, transaction),
        acquire,
      );
    }
    const sql = advisorySql(target.shard);
    if (transaction !== undefined && this.#snapshotPerStatement(db, transaction)) {
      try {
        return await this.#holdInTransaction(db, target, transaction, body, sql.transactionLock, acquire);
      } catch (error) {
        if (!(error instanceof OneSnapshotPerTransaction)) throw error;
        this.#oneSnapshotByDefault.add(db); // rolled back before `body` ran; take the session's lock instead
      }
    }
    return db.withConnection(async (conn) => {
      try {
        // One round trip for the lock and the row (see advisorySql). Inside the try: a failure
        // after the grant (the row missing, a timeout) must still unlock.
        checkRow(await conn.executeFirst<FenceRow>(sql.sessionLock), target);
        return await (transaction === undefined ? body(conn) : conn.transaction(body, transaction));
      } finally {
        // Once more if the first try failed (e.g. timed out): a pooled session that kept the lock
        // would make moves of this shard wait for it in vain (they give up after drainTimeoutMs). A
        // connection that cannot unlock at all is broken, and its session ends with the lock.
        const release = (): Promise<unknown> => conn.execute(sql.unlock);
        await release().catch(release).catch(() => undefined);
      }
    }, acquire);
  }

  /** Can a PostgreSQL transaction with these options take the lock inside itself (see SNAPSHOT_PER_STATEMENT)? */
  #snapshotPerStatement(db: Database, { isolationLevel }: TransactionOptions): boolean {
    return isolationLevel === undefined ? !this.#oneSnapshotByDefault.has(db) : SNAPSHOT_PER_STATEMENT.has(isolationLevel);
  }

  /**
   * PostgreSQL, a transaction: its first statements take the lock for the transaction and read the
   * row, in one round trip; the commit or rollback lets go, so no unlock is sent.
   * @throws {OneSnapshotPerTransaction} when the transaction's isolation level (the server's default) turned out to
   *   take one snapshot for the whole transaction, so the row read cannot be trusted (`body` did not run).
   */
  #holdInTransaction<T>(db: Database, target: FenceTarget, transaction: TransactionOptions, body: (conn: Connection) => Promise<T>, lock: string, acquire: { signal?: AbortSignal }): Promise<T> {
    return db.withConnection(
      (conn) =>
        conn.transaction(async (tx) => {
          const row = await tx.executeFirst<FenceRow & { isolation: unknown }>(lock);
          if (row !== undefined && !SNAPSHOT_PER_STATEMENT.has(String(row.isolation))) throw new OneSnapshotPerTransaction(String(row.isolation));
          checkRow(row, target);
          return body(tx);
        }, transaction),
      acquire,
    );
  }

  /** Read the shard's row (with `lock`) and refuse to go on when the shard is frozen or gone. */
  async #check(conn: Connection, target: FenceTarget, lock: string): Promise<void> {
    checkRow(await conn.executeFirst<FenceRow>(`SELECT [left_version], [frozen_until] FROM [${FENCE_TABLE}] WHERE [shard] = ?${lock}`, [target.shard]), target);
  }

  /**
   * Freeze the shard on `db` for every process: waits (at most `timeoutMs`) until transactions
   * that passed the check have finished. Returns the row's `left_version` before, for `release`.
   */
  async freeze(db: Database, backend: string, shard: number, until: number, timeoutMs: number): Promise<number> {
    await this.ensure(db, shard);
    const setFrozen = (runner: Database | Connection): Promise<unknown> => runner.execute(`UPDATE [${FENCE_TABLE}] SET [frozen_until] = ? WHERE [shard] = ?`, [until, shard], { timeoutMs });
    if (backend !== ADVISORY) {
      await setFrozen(db);
    } else {
      // Exclusive: granted once every operation holding the lock shared has finished. A transaction
      // lock, so that no failure (a timeout cancelling the wait included) can leave it held.
      await db.withConnection((conn) =>
        conn.transaction(async (tx) => {
          await tx.execute('SELECT pg_advisory_xact_lock(?, ?)', [FENCE_LOCK_KEY, shard], { timeoutMs });
          await setFrozen(tx);
        }),
      );
    }
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

/**
 * PostgreSQL's statements around a fenced operation, with the shard inlined (an integer: nothing
 * to quote) so that a lock and the row read are two statements in one simple-protocol round trip,
 * which takes no parameters; the connection answers with the last statement's rows. Two
 * statements, not one SELECT calling the lock function: a statement's snapshot is taken when it
 * starts, so one statement would read the row as it was before the lock wait and could miss a
 * freeze committed meanwhile. A statement outside a transaction is its own transaction, with a
 * snapshot of its own whatever the isolation level; inside one, only SNAPSHOT_PER_STATEMENT levels
 * give the read a snapshot after the grant, hence the isolation level read along.
 */
function advisorySql(shard: number): { sessionLock: string; unlock: string; transactionLock: string } {
  // Routing only yields shards of the map; the check keeps anything else out of the SQL text.
  if (!Number.isSafeInteger(shard)) throw new ShardKeyError(`logical shard ${String(shard)} is not an integer`);
  const key = `${FENCE_LOCK_KEY}, ${shard}`;
  const row = `[left_version], [frozen_until] FROM [${FENCE_TABLE}] WHERE [shard] = ${shard}`;
  return {
    sessionLock: `SELECT pg_advisory_lock_shared(${key}); SELECT ${row}`,
    unlock: `SELECT pg_advisory_unlock_shared(${key})`,
    transactionLock: `SELECT pg_advisory_xact_lock_shared(${key}); SELECT current_setting('transaction_isolation') AS [isolation], ${row}`,
  };
}

/** Refuse to go on when the shard's fence row says it is frozen or gone from this database. */
function checkRow(row: FenceRow | undefined, { database, shard, mapVersion }: FenceTarget): void {
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
