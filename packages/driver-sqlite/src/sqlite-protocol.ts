/**
 * Messages between a worker-mode or process-mode connection and the thread or child process
 * that owns its database. One message each way per statement; arrays rather than objects
 * because they are cheaper to clone.
 */
import type { RowShape } from './sqlite-engine.js';

/** Main side to host: run a statement, or `null` to close. The first message is the SqliteOpenOptions. */
export type StatementMessage = [sql: string, params: readonly unknown[], shape: Exclude<RowShape, 'object'>, firstRow: boolean];

/**
 * Main side to host, for `stream`: the next batch of the statement's rows (opening its iterator
 * when `open`), or the end of the stream (the host drops its iterator). Answered with OK.
 */
export type StreamMessage =
  | [tag: typeof STREAM_NEXT, sql: string, params: readonly unknown[], shape: Exclude<RowShape, 'object'>, batchSize: number, open: boolean]
  | [tag: typeof STREAM_END];

export const STREAM_NEXT = 10;
export const STREAM_END = 11;

export const READY = 0;
export const OK = 1;
export const FAILED = 2;

/** Host to main side. */
export type HostMessage =
  | [tag: typeof READY, sqliteVersion: string]
  | [tag: typeof OK, rows: unknown[], affectedRows: number, insertId: number | bigint | undefined, columns: string[] | undefined]
  | [tag: typeof FAILED, name: string, code: string | undefined, message: string];
