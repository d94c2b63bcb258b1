/**
 * Entry point of the thread (worker mode) or child process (process mode) that owns one
 * connection's database. It answers each statement message with exactly one HostMessage.
 */
import { parentPort } from 'node:worker_threads';
import { openSqliteDatabase, StatementRunner, type SqliteDatabase } from './sqlite-engine.js';
import type { SqliteOpenOptions } from './sqlite-options.js';
import { FAILED, OK, READY, type HostMessage, type StatementMessage, type StreamMessage } from './sqlite-protocol.js';
import { HostStream } from './sqlite-host-stream.js';

const port = parentPort;
const send: (message: HostMessage) => void = port !== null ? (message) => port.postMessage(message) : (message) => process.send?.(message);

let db: SqliteDatabase | undefined;
let runner: StatementRunner | undefined;
let stream: HostStream | undefined;

function failure(error: unknown): HostMessage {
  const e = error as { name?: unknown; code?: unknown; message?: unknown };
  return [FAILED, String(e?.name ?? 'Error'), typeof e?.code === 'string' ? e.code : undefined, String(e?.message ?? error)];
}

function onMessage(message: StatementMessage | StreamMessage | SqliteOpenOptions | null): void {
  if (runner === undefined) {
    try {
      const options = message as SqliteOpenOptions;
      db = openSqliteDatabase(options);
      runner = new StatementRunner(db, options);
      send([READY, String(db.prepare('SELECT sqlite_version()').pluck().get())]);
    } catch (error) {
      send(failure(error));
    }
    return;
  }
  if (message === null) {
    db?.close();
    process.exit(0);
  }
  if (typeof (message as unknown[])[0] === 'number') {
    stream ??= new HostStream(db!, runner!.exact);
    send(stream.answer(message as StreamMessage, failure));
    return;
  }
  const [sql, params, shape, firstRow] = message as StatementMessage;
  let reply: HostMessage;
  try {
    const result = runner.run(sql, params, shape, firstRow);
    reply = [OK, result.rows, result.affectedRows, result.insertId, result.columns];
  } catch (error) {
    reply = failure(error);
  }
  send(reply);
}

if (port !== null) {
  port.on('message', onMessage);
} else {
  process.on('message', onMessage);
  // The parent went away: close cleanly so WAL is checkpointed, then leave.
  process.on('disconnect', () => {
    db?.close();
    process.exit(0);
  });
}
