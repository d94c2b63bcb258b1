import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { exportEntities } from '@dal/entities';
import { listOption, PROGRESS_OPTIONS, SELECTION_OPTIONS, type CommandSpec } from '../command.js';
import type { OutputStream } from '../output.js';
import { count } from '../progress.js';

/** Lines are written in chunks of about this many characters (one write call per chunk). */
const CHUNK_CHARS = 1 << 16;

export const exportCommand: CommandSpec = {
  name: 'export',
  summary: 'write entities (rows and history) as JSON lines to a file or stdout',
  usage: 'dal export <url> [-o file] [--entities a,b] [--no-history]',
  description:
    'Streams every entity of the database (or those of --entities) as JSON lines: one metadata line,\n' +
    'then rows and history. Memory stays flat whatever the size. With -o, the file appears only once\n' +
    'the export is complete (it is written to <file>.partial first); without it, lines go to stdout.',
  positionals: ['url'],
  options: {
    output: { type: 'string', short: 'o', value: 'file', description: 'write to this file instead of stdout' },
    ...SELECTION_OPTIONS,
    ...PROGRESS_OPTIONS,
  },
  examples: ['dal export sqlite:./app.db -o backup.jsonl', 'dal export postgres://app@db/app --entities users,orders --no-history > users.jsonl'],
  async run([url], values, context) {
    const db = context.open(url!);
    const entities = listOption(values, 'entities');
    const progress = context.progress(values);
    const target = values['output'] === undefined ? undefined : String(values['output']);
    const conn = await db.connection({ signal: context.signal });
    let lines = 0;
    try {
      const source = exportEntities(conn, {
        ...(entities === undefined ? {} : { entities }),
        includeHistory: values['no-history'] !== true,
        signal: context.signal,
        ...(progress === undefined ? {} : { onProgress: progress.update }),
      });
      const counted = (async function* () {
        for await (const line of source) {
          lines++;
          yield line;
        }
      })();
      if (target === undefined) await writeToStream(counted, context.output.stdout);
      else await writeFileAtomically(target, counted);
      progress?.finish();
    } finally {
      progress?.abandon();
      await conn.release();
    }
    // Only the metadata line: most often a mistyped URL (SQLite creates a missing file as empty).
    const nothing = lines <= 1 ? ' (no entities found: is it the right database?)' : '';
    context.output.note(`exported ${count(lines)} lines${target === undefined ? '' : ` to ${target}`}${nothing}`);
    return 0;
  },
};

/** Lines, each followed by '\n', joined into chunks of about CHUNK_CHARS (one write each). */
async function* chunked(lines: AsyncIterable<string>): AsyncGenerator<string> {
  let chunk = '';
  for await (const line of lines) {
    chunk += `${line}\n`;
    if (chunk.length >= CHUNK_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk !== '') yield chunk;
}

/** Write to stdout, waiting whenever it asks to; a closed pipe (`| head`) ends the export with its error. */
async function writeToStream(lines: AsyncIterable<string>, stream: OutputStream): Promise<void> {
  for await (const chunk of chunked(lines)) {
    if (stream.write(chunk)) continue;
    await once(stream, 'drain'); // rejects when the stream fails meanwhile
  }
}

/** Write to `<path>.partial`, then rename: a failed export never leaves a file that looks complete. */
async function writeFileAtomically(path: string, lines: AsyncIterable<string>): Promise<void> {
  const partial = `${path}.partial`;
  try {
    await pipeline(chunked(lines), createWriteStream(partial));
    await rename(partial, path);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}
