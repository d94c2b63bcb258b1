import Database from 'better-sqlite3';
import type { SqliteOpenOptions } from './sqlite-options.js';

/** A better-sqlite3 database handle. */
export type SqliteDatabase = Database.Database;

/**
 * How rows come back: better-sqlite3's objects, tuples, or tuples plus column names (what a worker
 * sends, since tuples are cheaper to clone across threads than objects).
 */
export type RowShape = 'object' | 'array' | 'columns';

/** One statement's outcome, plain data so it can cross a thread or process boundary. */
export interface EngineResult {
  rows: unknown[];
  affectedRows: number;
  insertId?: number | bigint;
  /** Column names, only for the 'columns' row shape. */
  columns?: string[];
}

interface CachedStatement {
  readonly stmt: Database.Statement;
  readonly reader: boolean;
  /** A reader that changes data (INSERT ... RETURNING): each returned row is an affected row. */
  readonly writes: boolean;
  readonly insert: boolean;
  raw: boolean;
}

const INSERT = /^\s*(?:insert|replace)\b/i;
const MULTIPLE_STATEMENTS = 'more than one statement';
/** Longest parameter list passed as separate arguments. */
const MAX_SPREAD = 64;

// better-sqlite3 binds separate arguments faster than one array of them (about 0.15 µs on a point
// select), and a call with a literal argument list is faster than a spread of a runtime array
// (about 0.1 µs, a twentieth of a point select): lists of up to four values get direct calls.
// A long list goes as one array argument, where a spread could exhaust the stack.
const getRow = (stmt: Database.Statement, p: readonly unknown[]): unknown => {
  switch (p.length) {
    case 0: return stmt.get();
    case 1: return stmt.get(p[0]);
    case 2: return stmt.get(p[0], p[1]);
    case 3: return stmt.get(p[0], p[1], p[2]);
    case 4: return stmt.get(p[0], p[1], p[2], p[3]);
    default: return p.length <= MAX_SPREAD ? stmt.get(...p) : stmt.get(p);
  }
};
const allRows = (stmt: Database.Statement, p: readonly unknown[]): unknown[] => {
  switch (p.length) {
    case 0: return stmt.all();
    case 1: return stmt.all(p[0]);
    case 2: return stmt.all(p[0], p[1]);
    case 3: return stmt.all(p[0], p[1], p[2]);
    case 4: return stmt.all(p[0], p[1], p[2], p[3]);
    default: return p.length <= MAX_SPREAD ? stmt.all(...p) : stmt.all(p);
  }
};
const runWrite = (stmt: Database.Statement, p: readonly unknown[]): Database.RunResult => {
  switch (p.length) {
    case 0: return stmt.run();
    case 1: return stmt.run(p[0]);
    case 2: return stmt.run(p[0], p[1]);
    case 3: return stmt.run(p[0], p[1], p[2]);
    case 4: return stmt.run(p[0], p[1], p[2], p[3]);
    default: return p.length <= MAX_SPREAD ? stmt.run(...p) : stmt.run(p);
  }
};

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_EXACT = -MAX_EXACT;

/**
 * A value read in safe-integer mode as callers get it: an integer is a number when that is exact
 * and a bigint beyond 2^53, what pg and mysql2 return for int8/BIGINT, so that an id or counter
 * reads back the same on every backend and is never rounded.
 */
function exactValue(value: unknown): unknown {
  return typeof value === 'bigint' && value <= MAX_EXACT && value >= MIN_EXACT ? Number(value) : value;
}

/** `row` (an object, or a tuple in raw mode) with its integers made exact in place; see exactValue. */
function exactRow<T>(row: T): T {
  if (Array.isArray(row)) {
    for (let i = 0; i < row.length; i++) {
      const value: unknown = row[i];
      if (typeof value === 'bigint') row[i] = exactValue(value);
    }
  } else if (row !== undefined) {
    const values = row as Record<string, unknown>;
    for (const key in values) {
      const value = values[key];
      if (typeof value === 'bigint') values[key] = exactValue(value);
    }
  }
  return row;
}

/** `rows` with their integers made exact in place (see exactValue); also for streamed batches. */
export function exactRows(rows: unknown[]): unknown[] {
  for (let i = 0; i < rows.length; i++) exactRow(rows[i]);
  return rows;
}

/**
 * Whether a row read in plain mode (integers as doubles) may have lost an integer: a number beyond
 * 2^53 in magnitude can be an integer rounded to fit (a REAL that large also matches, which only
 * costs a second read).
 */
function mayBeRounded(row: unknown): boolean {
  if (Array.isArray(row)) {
    for (let i = 0; i < row.length; i++) {
      const value: unknown = row[i];
      if (typeof value === 'number' && (value > Number.MAX_SAFE_INTEGER || value < -Number.MAX_SAFE_INTEGER)) return true;
    }
  } else if (row !== undefined) {
    const values = row as Record<string, unknown>;
    for (const key in values) {
      const value = values[key];
      if (typeof value === 'number' && (value > Number.MAX_SAFE_INTEGER || value < -Number.MAX_SAFE_INTEGER)) return true;
    }
  }
  return false;
}

/*
 * A query that changes nothing is read in plain mode, which makes no bigint per integer, and read
 * again in safe-integer mode (then made exact) in the rare case a value may have been rounded. The
 * query is read-only, so the second reading simply replaces the first.
 */

/** The first row of a read-only statement left in plain mode, exactly; see above. */
function firstRowExactly(stmt: Database.Statement, params: readonly unknown[]): unknown {
  const row = getRow(stmt, params);
  if (!mayBeRounded(row)) return row;
  stmt.safeIntegers(true);
  try {
    return exactRow(getRow(stmt, params));
  } finally {
    stmt.safeIntegers(false);
  }
}

/** Every row of a read-only statement left in plain mode, exactly; see above. */
function allRowsExactly(stmt: Database.Statement, params: readonly unknown[]): unknown[] {
  const rows = allRows(stmt, params);
  if (!rows.some(mayBeRounded)) return rows;
  stmt.safeIntegers(true);
  try {
    return exactRows(allRows(stmt, params));
  } finally {
    stmt.safeIntegers(false);
  }
}

/** A read-only query prepared by `StatementRunner.readOnly`. */
export interface ReadOnlyStatement {
  readonly stmt: Database.Statement;
  /** Whether its integers are made exact (see exactValue), rather than all left as bigints. */
  readonly exact: boolean;
}

/** The first row of a read-only query, or undefined. */
export function firstRow(reader: ReadOnlyStatement, params: readonly unknown[]): unknown {
  return reader.exact ? firstRowExactly(reader.stmt, params) : getRow(reader.stmt, params);
}

/** Every row of a read-only query. */
export function everyRow(reader: ReadOnlyStatement, params: readonly unknown[]): unknown[] {
  return reader.exact ? allRowsExactly(reader.stmt, params) : allRows(reader.stmt, params);
}

/**
 * Open a database and apply the house pragmas: WAL + synchronous NORMAL for files, foreign keys
 * on, busy timeout (better-sqlite3's `timeout` sets `sqlite3_busy_timeout`), then the caller's pragmas.
 *
 * @throws the native SqliteError (SQLITE_CANTOPEN, SQLITE_NOTADB, ...) or better-sqlite3's TypeError.
 */
export function openSqliteDatabase(options: SqliteOpenOptions): SqliteDatabase {
  const db = new Database(options.filename, {
    readonly: options.readonly,
    fileMustExist: options.fileMustExist,
    timeout: options.busyTimeoutMs,
  });
  try {
    if (!options.memory && !options.readonly) {
      const journal = db.pragma('journal_mode = WAL', { simple: true });
      if (String(journal).toLowerCase() === 'wal') db.pragma('synchronous = NORMAL');
    }
    db.pragma('foreign_keys = ON');
    // Every integer is read as a bigint, so none is ever rounded; unless the caller asked for
    // bigints throughout (`safeIntegers`), StatementRunner turns the exact ones back into numbers,
    // and reads queries that change nothing in plain mode unless a value may have been rounded.
    db.defaultSafeIntegers(true);
    for (const [name, value] of Object.entries(options.pragmas)) db.pragma(`${name} = ${value}`);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/**
 * Runs statements on one database through a bounded cache of prepared statements. Shared by the
 * inline, sync and worker connections so they behave the same.
 */
export class StatementRunner {
  readonly #db: SqliteDatabase;
  readonly #max: number;
  /** False when the caller asked for every integer as a bigint (`safeIntegers`); see exactValue. */
  readonly #exact: boolean;
  readonly #cache = new Map<string, CachedStatement>();
  /** True when the last `run` went through `exec` (a multi-statement script): a failure may have left part of it done. */
  lastWasScript = false;

  /** False when the caller asked for every integer as a bigint (`safeIntegers`); see exactValue. */
  get exact(): boolean {
    return this.#exact;
  }

  /** `db` as openSqliteDatabase opened it (in safe-integer mode). */
  constructor(db: SqliteDatabase, options: Pick<SqliteOpenOptions, 'statementCacheSize' | 'safeIntegers'>) {
    this.#db = db;
    this.#max = options.statementCacheSize;
    this.#exact = !options.safeIntegers;
  }

  /**
   * `sql` prepared as a read-only query for the drivers' `prepareReader` (run it with `firstRow` or `everyRow`),
   * or undefined when it writes. better-sqlite3 prepares it again by itself after a schema change.
   * @throws the native error when `sql` does not prepare.
   */
  readOnly(sql: string): ReadOnlyStatement | undefined {
    const stmt = this.#db.prepare(sql);
    if (!(stmt.reader && stmt.readonly)) return undefined;
    if (this.#exact) stmt.safeIntegers(false);
    return { stmt, exact: this.#exact };
  }

  /**
   * Run one statement with already converted positional parameters.
   * @throws the native error (SqliteError, or better-sqlite3's TypeError/RangeError for bad bindings).
   */
  run(sql: string, params: readonly unknown[], shape: RowShape, firstRow = false): EngineResult {
    this.lastWasScript = false;
    const entry = this.#cache.get(sql) ?? this.#prepare(sql, params);
    if (entry === undefined) return { rows: [], affectedRows: 0 };
    if (entry.reader) {
      const raw = shape !== 'object';
      if (entry.raw !== raw) {
        entry.stmt.raw(raw);
        entry.raw = raw;
      }
      let rows: unknown[];
      if (entry.writes) {
        // Runs to the end so that every row is counted, in safe-integer mode: it cannot be read twice.
        rows = allRows(entry.stmt, params);
        if (this.#exact) exactRows(rows);
      } else if (firstRow) {
        // Only the first row wanted (executeFirst): step once, like better-sqlite3's own get().
        const row = this.#exact ? firstRowExactly(entry.stmt, params) : getRow(entry.stmt, params);
        rows = row === undefined ? [] : [row];
      } else {
        rows = this.#exact ? allRowsExactly(entry.stmt, params) : allRows(entry.stmt, params);
      }
      const result: EngineResult = { rows, affectedRows: entry.writes ? rows.length : 0 };
      if (shape === 'columns') result.columns = columnNames(entry.stmt);
      return result;
    }
    const info = runWrite(entry.stmt, params);
    if (!entry.insert) return { rows: [], affectedRows: info.changes };
    return { rows: [], affectedRows: info.changes, insertId: this.#exact ? (exactValue(info.lastInsertRowid) as number | bigint) : info.lastInsertRowid };
  }

  /** Prepare and cache `sql`; a parameterless multi-statement script runs through `exec` instead (returns undefined). */
  #prepare(sql: string, params: readonly unknown[]): CachedStatement | undefined {
    let stmt: Database.Statement;
    try {
      stmt = this.#db.prepare(sql);
    } catch (error) {
      if (params.length === 0 && error instanceof RangeError && error.message.includes(MULTIPLE_STATEMENTS)) {
        this.lastWasScript = true;
        this.#db.exec(sql);
        return undefined;
      }
      throw error;
    }
    const entry: CachedStatement = { stmt, reader: stmt.reader, writes: stmt.reader && !stmt.readonly, insert: INSERT.test(sql), raw: false };
    if (this.#exact && entry.reader && !entry.writes) stmt.safeIntegers(false);
    if (this.#max > 0) {
      // Evict the oldest entry: cheaper than LRU bookkeeping on every hit.
      if (this.#cache.size >= this.#max) this.#cache.delete(this.#cache.keys().next().value as string);
      this.#cache.set(sql, entry);
    }
    return entry;
  }
}

function columnNames(stmt: Database.Statement): string[] {
  // Read each time rather than cached: another connection's ALTER TABLE can change a SELECT *.
  const columns = stmt.columns();
  const names = new Array<string>(columns.length);
  for (let i = 0; i < columns.length; i++) names[i] = (columns[i] as Database.ColumnDefinition).name;
  return names;
}
