import { copyEntities } from '@dal/entities';
import { choiceOption, CONFLICT_OPTIONS, listOption, ON_CONFLICT, PROGRESS_OPTIONS, SELECTION_OPTIONS, type CommandSpec } from '../command.js';
import { count } from '../progress.js';
import { table } from '../table.js';

export const copyCommand: CommandSpec = {
  name: 'copy',
  summary: 'copy entities from one database to another (any backend to any backend) and verify',
  usage: 'dal copy <from-url> <to-url> [--entities a,b] [--no-history] [--on-conflict fail|skip|replace]',
  description:
    'Exports from the first database and imports into the second in one stream, then verifies each\n' +
    'table on both sides: row counts and a checksum over ids and versions. Prints the verification\n' +
    'table; exits with 1 when any table differs. Safe to run again after a failure.',
  positionals: ['from-url', 'to-url'],
  options: {
    ...SELECTION_OPTIONS,
    ...CONFLICT_OPTIONS,
    ...PROGRESS_OPTIONS,
  },
  examples: ['dal copy sqlite:./app.db postgres://app@db/app', 'dal copy mysql://root@old/app postgres://app@new/app --entities users'],
  async run([fromUrl, toUrl], values, context) {
    const entities = listOption(values, 'entities');
    const onConflict = choiceOption(values, 'on-conflict', ON_CONFLICT);
    const from = context.open(fromUrl!);
    const to = context.open(toUrl!);
    const progress = context.progress(values);
    let result;
    try {
      result = await copyEntities(from, to, {
        ...(entities === undefined ? {} : { entities }),
        includeHistory: values['no-history'] !== true,
        ...(onConflict === undefined ? {} : { onConflict }),
        signal: context.signal,
        ...(progress === undefined ? {} : { onProgress: progress.update }),
      });
      progress?.finish();
    } finally {
      progress?.abandon();
    }
    const rows = result.verification.map((v) => [v.entity, v.table, count(v.sourceRows), count(v.targetRows), v.sourceChecksum, v.targetChecksum, v.ok ? 'ok' : 'DIFFERS']);
    for (const line of table(['entity', 'table', 'source rows', 'target rows', 'source checksum', 'target checksum', 'result'], rows)) context.output.line(line);
    if (!result.ok) {
      const differing = result.verification.filter((v) => !v.ok).map((v) => v.table);
      context.output.note(`error DAL_ENTITY: the copy differs from its source in ${differing.join(', ')}`);
      return 1;
    }
    context.output.note(`copied and verified ${count(result.verification.length)} tables`);
    return 0;
  },
};
