/**
 * Messages between a worker-mode or process-mode connection and the thread or child process
 * that owns its database. One message each way per statement; arrays rather than objects
 * because they are cheaper to clone.
 */
import type { RowShape } from './sqlite-engine.js';

/** Main side to host: run a statement, or `null` to close. The first message is the SqliteOpenOptions. */
export type StatementMessage = [sql: string, params: readonly unknown[], shape: Exclude<RowShape, 'object'>, firstRow: boolean];

export const READY = 0;
export const OK = 1;
export const FAILED = 2;

/** Host to main side. */
export type HostMessage =
  | [tag: typeof READY, sqliteVersion: string]
  | [tag: typeof OK, rows: unknown[], affectedRows: number, insertId: number | bigint | undefined, columns: string[] | undefined]
  | [tag: typeof FAILED, name: string, code: string | undefined, message: string];
