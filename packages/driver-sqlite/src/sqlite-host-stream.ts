import { exactRows, type SqliteDatabase } from './sqlite-engine.js';
import { OK, STREAM_END, type HostMessage, type StreamMessage } from './sqlite-protocol.js';

/**
 * The host side of a worker- or process-mode stream: one `iterate()` open at a time (core runs one
 * statement at a time per connection), read a batch per message. Rows go as tuples plus column
 * names, like every result that crosses to the main side.
 */
export class HostStream {
  #rows: IterableIterator<unknown[]> | undefined;
  #columns: string[] | undefined;

  constructor(
    private readonly db: SqliteDatabase,
    /** Integers made exact (see exactValue in sqlite-engine.ts), unless the caller asked for bigints. */
    private readonly exact: boolean,
  ) {}

  answer(message: StreamMessage, failure: (error: unknown) => HostMessage): HostMessage {
    if (message[0] === STREAM_END) {
      this.#end();
      return [OK, [], 0, undefined, undefined];
    }
    const [, sql, params, shape, batchSize, open] = message;
    try {
      if (open) {
        this.#end();
        const stmt = this.db.prepare(sql);
        if (!stmt.reader) {
          stmt.run(params);
          return [OK, [], 0, undefined, shape === 'columns' ? [] : undefined];
        }
        this.#columns = shape === 'columns' ? stmt.columns().map((column) => column.name) : undefined;
        this.#rows = stmt.raw(true).iterate(params) as IterableIterator<unknown[]>;
      }
      const batch: unknown[][] = [];
      const rows = this.#rows;
      while (rows !== undefined && batch.length < batchSize) {
        const step = rows.next();
        if (step.done === true) {
          this.#rows = undefined;
          break;
        }
        batch.push(step.value);
      }
      if (this.exact) exactRows(batch);
      return [OK, batch, 0, undefined, this.#columns];
    } catch (error) {
      this.#end();
      return failure(error);
    }
  }

  #end(): void {
    this.#rows?.return?.();
    this.#rows = undefined;
  }
}
