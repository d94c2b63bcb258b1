import { createServer } from 'node:net';
import { DatabaseConfig, DatabaseFactory } from '@dal/core';
import type { ShardMapJSON } from '../src/index.js';

export type ServerBackend = 'postgres' | 'mysql';

export const serverUrls: Record<ServerBackend, string> = {
  postgres: process.env['DAL_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test',
  mysql: process.env['DAL_MYSQL_URL'] ?? 'mysql://root@127.0.0.1:3306/test',
};

/** The server URL with another database name. */
export function urlOf(backend: ServerBackend, database: string): string {
  const url = new URL(serverUrls[backend]);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Databases dal_shard_<pid>_<tag><n> created on the real server, and how to drop them. */
export async function createPhysicalDatabases(backend: ServerBackend, tag: string, count: number): Promise<{ names: string[]; drop(): Promise<void> }> {
  const admin = DatabaseFactory.createDatabase(backend, DatabaseConfig.fromUrl(serverUrls[backend], { alias: `shard-admin-${tag}`, poolMax: 2 }));
  const names = Array.from({ length: count }, (_, i) => `dal_shard_${process.pid}_${tag}${i}`);
  const drop = async (name: string): Promise<void> => {
    await admin.execute(backend === 'postgres' ? `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)` : `DROP DATABASE IF EXISTS \`${name}\``);
  };
  for (const name of names) {
    await drop(name);
    await admin.execute(backend === 'postgres' ? `CREATE DATABASE "${name}"` : `CREATE DATABASE \`${name}\``);
  }
  return {
    names,
    async drop() {
      try {
        for (const name of names) await drop(name);
      } finally {
        await admin.close();
      }
    },
  };
}

/** A TCP port nothing listens on (bound, then released): a "stopped" database server. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A map of `logicalShards` shards spread in equal ranges over the named databases. */
export function mapOver(backend: ServerBackend, names: readonly string[], logicalShards: number, extra: ShardMapJSON['databases'] = {}): ShardMapJSON {
  const json: ShardMapJSON = { version: 1, logicalShards, databases: {}, shards: {} };
  const all = [...names.map((name, i) => [`db${i}`, { url: urlOf(backend, name), config: { poolMax: 4 } }] as const), ...Object.entries(extra)];
  const per = Math.floor(logicalShards / all.length);
  all.forEach(([alias, spec], i) => {
    json.databases[alias] = spec;
    const last = i === all.length - 1 ? logicalShards - 1 : (i + 1) * per - 1;
    json.shards[`${i * per}-${last}`] = alias;
  });
  return json;
}

/** Keys (tenant-<n>) that route to `shard`. */
export function keysOn(shardOf: (key: string) => number, shard: number, count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) if (shardOf(`tenant-${i}`) === shard) keys.push(`tenant-${i}`);
  return keys;
}
