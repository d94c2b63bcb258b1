/**
 * `dal status` on each backend: server version, driver, entity tables with row counts, and the
 * capacity advice core computes from the server's connection limit.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServerDatabase, dal, seedEntities, tempDir, uniqueName, type ServerDatabase } from './helpers.js';

const ENTITY = 'cli_status';

interface Status {
  backend: string;
  serverVersion: string;
  driver: string;
  tables: { entity: string; table: string; rows: number }[];
  capacity: { serverMaxConnections: number; additionalInstances: number; advice: string } | null;
}

describe('dal status', () => {
  const dir = tempDir();
  const servers: ServerDatabase[] = [];

  beforeAll(async () => {
    for (const kind of ['postgres', 'mysql'] as const) servers.push(await createServerDatabase(kind, uniqueName(`dal_cli_status_${kind}`)));
  });
  afterAll(async () => {
    for (const server of servers) await server.drop();
    dir.remove();
  });

  it('SQLite: version, driver, tables and rows; no capacity advice without a server', async () => {
    const url = `sqlite:${join(dir.path, 'status.db')}`;
    await seedEntities(url, ENTITY, 20);
    const { code, stdout, stderr } = await dal(['status', url]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(`database  ${url}\nbackend   sqlite\nserver    3.`);
    expect(stdout).toMatch(/^driver {4}better-sqlite3 \d+/m);
    expect(stdout).toContain('capacity  no server connection limit (embedded database)');
    expect(stdout).toMatch(new RegExp(`^${ENTITY}\\s+${ENTITY}\\s+20$`, 'm'));
    expect(stdout).toMatch(new RegExp(`^${ENTITY}\\s+${ENTITY}_history\\s+22$`, 'm'));
  });

  it.each([
    ['postgres', 0, /^pg \d/, /PostgreSQL 1\d/],
    ['mysql', 1, /^mysql2 \d/, /MariaDB|^\d+\.\d+/],
  ] as const)('%s --json: server version, driver, tables, and capacity advice from max_connections', async (backend, index, driver, version) => {
    const server = servers[index]!;
    await seedEntities(server.url, ENTITY, 5);
    const { code, stdout } = await dal(['status', server.url, '--json']);
    expect(code).toBe(0);
    const status = JSON.parse(stdout) as Status;
    expect(status.backend).toBe(backend);
    expect(status.driver).toMatch(driver);
    expect(status.serverVersion).toMatch(version);
    expect(status.tables).toEqual([
      { entity: ENTITY, table: ENTITY, rows: 5 },
      { entity: ENTITY, table: `${ENTITY}_history`, rows: 6 },
    ]);
    expect(status.capacity?.serverMaxConnections).toBeGreaterThan(0);
    expect(status.capacity?.advice).toMatch(/connections/);
  });
});
