import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { ConfigError } from '@dal/core';
import { importEntities, type ImportResult } from '@dal/entities';
import { choiceOption, CONFLICT_OPTIONS, ON_CONFLICT, PROGRESS_OPTIONS, type CommandSpec } from '../command.js';
import type { Output } from '../output.js';
import { count } from '../progress.js';
import { table } from '../table.js';

export const importCommand: CommandSpec = {
  name: 'import',
  summary: 'load a JSON lines export into a database',
  usage: 'dal import <url> <file> [--on-conflict fail|skip|replace]',
  description:
    'Restores ids, versions, timestamps and history exactly, in batches, each in its own transaction.\n' +
    'After a failure, run the same command again: it finishes the job without duplicates. A row that\n' +
    'already exists with other data fails the import (fail, the default), is left as it is (skip), or\n' +
    'is overwritten (replace). <file> may be - for stdin.',
  positionals: ['url', 'file'],
  options: {
    ...CONFLICT_OPTIONS,
    ...PROGRESS_OPTIONS,
  },
  examples: ['dal import postgres://app@db/app backup.jsonl', 'dal export sqlite:./app.db | dal import mysql://root@127.0.0.1/app - --on-conflict skip'],
  async run([url, file], values, context) {
    const onConflict = choiceOption(values, 'on-conflict', ON_CONFLICT);
    const input = file === '-' ? process.stdin : await openInput(file!);
    const db = context.open(url!);
    const progress = context.progress(values);
    const conn = await db.connection({ signal: context.signal });
    let result: ImportResult;
    try {
      const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
      result = await importEntities(conn, lines, {
        ...(onConflict === undefined ? {} : { onConflict }),
        signal: context.signal,
        ...(progress === undefined ? {} : { onProgress: progress.update }),
      });
      progress?.finish();
    } finally {
      progress?.abandon();
      input.destroy();
      await conn.release();
    }
    printImportResult(context.output, result);
    return 0;
  },
};

/** The file as a stream, opened now so that a missing file fails before connecting. */
async function openInput(path: string): Promise<NodeJS.ReadableStream & { destroy(): void }> {
  try {
    const handle = await open(path, 'r');
    return createReadStream('', { fd: handle });
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new ConfigError(`cannot read ${path}: ${reason}`);
  }
}

/** Per entity: rows and history rows written, skipped (conflicts kept) and unchanged (already there), on stdout. */
function printImportResult(output: Output, result: ImportResult): void {
  const rows = Object.entries(result.entities).map(([entity, r]) => [entity, count(r.rows), count(r.history), count(r.skipped), count(r.unchanged)]);
  for (const line of table(['entity', 'rows', 'history', 'skipped', 'unchanged'], rows)) output.line(line);
  output.note(`imported ${count(result.lines)} lines`);
}
