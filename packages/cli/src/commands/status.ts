import { PoolManager } from '@dal/core';
import { entityChecksums } from '@dal/entities';
import type { CommandSpec } from '../command.js';
import { count } from '../progress.js';
import { table } from '../table.js';

export const statusCommand: CommandSpec = {
  name: 'status',
  summary: 'server version, driver, entity tables with row counts, and capacity advice',
  usage: 'dal status <url> [--json]',
  description:
    "Connects, then prints the backend, the server's version, the native driver, each entity table\n" +
    'with its row count, and how many more app instances (at this URL\'s poolMax) the server\'s\n' +
    'connection limit can take. SQLite has no connection limit, so no capacity advice.',
  positionals: ['url'],
  options: {
    json: { type: 'boolean', description: 'print one JSON object instead of text' },
  },
  examples: ['dal status postgres://app@db/app', 'dal status sqlite:./app.db --json'],
  async run([url], values, context) {
    const db = context.open(url!);
    const { version, tables } = await db.withConnection(
      async (conn) => ({ version: await conn.getVersionDetails(), tables: await entityChecksums(conn) }),
      { signal: context.signal },
    );
    // What core computes from the server's connection limit (undefined without one, as on SQLite).
    const capacity = Object.values(await PoolManager.refreshCapacity(db.config.hash()))[0];
    const status = {
      url: context.output.redact(url!),
      backend: db.config.backend,
      serverVersion: version.dbServerVersion,
      driver: version.dbDriver,
      tables: tables.map(({ entity, table: name, rows }) => ({ entity, table: name, rows })),
      capacity: capacity ?? null,
    };
    const { output } = context;
    if (values['json'] === true) {
      output.line(JSON.stringify(status, null, 2));
      return 0;
    }
    output.line(`database  ${status.url}`);
    output.line(`backend   ${status.backend ?? 'unknown'}`);
    output.line(`server    ${status.serverVersion}`);
    output.line(`driver    ${status.driver}`);
    output.line(`capacity  ${capacity === undefined ? 'no server connection limit (embedded database)' : capacity.advice}`);
    output.line();
    if (status.tables.length === 0) output.line('no entity tables');
    else for (const line of table(['entity', 'table', 'rows'], status.tables.map((t) => [t.entity, t.table, count(t.rows)]))) output.line(line);
    return 0;
  },
};
