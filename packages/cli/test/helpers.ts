/**
 * Run the built `dal` binary as a user would (a child process, stdout and stderr pipes, so not a
 * terminal), and make data for it on the real servers.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatabaseFactory, type Database } from '@dal/core';
import '@dal/entities';
import { mysqlUrl, postgresUrl } from '@dal/test-utils';

export const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

export interface DalRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `dal ...args`; resolves when the process has exited (killed after `timeoutMs`). */
export function dal(args: readonly string[], options: { timeoutMs?: number; stdin?: string; cwd?: string } = {}): Promise<DalRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], cwd: options.cwd ?? process.cwd() });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

/** A name no other helper's test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

/** A temp directory, removed by the returned function. */
export function tempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'dal-cli-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A fresh database on a server for one test file; `drop()` removes it. */
export interface ServerDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

async function withAdmin<T>(url: string, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = DatabaseFactory.fromUrl(url);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** `CREATE DATABASE` on the server of `serverUrl` (its database part replaced). */
export async function createServerDatabase(kind: 'postgres' | 'mysql', name: string): Promise<ServerDatabase> {
  const admin = kind === 'postgres' ? postgresUrl() : mysqlUrl();
  const url = admin.replace(/\/[^/?]*(\?.*)?$/, `/${name}`);
  const quoted = kind === 'postgres' ? `"${name}"` : `\`${name}\``;
  // Native SQL, not core's [bracket] quoting: DDL on the server's own catalog.
  await withAdmin(admin, (db) => db.execute(`CREATE DATABASE ${quoted}`));
  return {
    url,
    drop: () =>
      withAdmin(admin, async (db) => {
        if (kind === 'postgres') await db.execute(`DROP DATABASE IF EXISTS ${quoted} WITH (FORCE)`);
        else await db.execute(`DROP DATABASE IF EXISTS ${quoted}`);
      }),
  };
}

/**
 * `count` entities in `entity` of a database, each with history: version 1 for all, and a second
 * version for every tenth one.
 */
export async function seedEntities(url: string, entity: string, count: number): Promise<void> {
  const db = DatabaseFactory.fromUrl(url);
  const batch = 5_000;
  try {
    await db.withConnection(async (conn) => {
      for (let start = 0; start < count; start += batch) {
        const rows = Array.from({ length: Math.min(batch, count - start) }, (_, j) => {
          const i = start + j;
          return { id: `c${String(i).padStart(7, '0')}`, name: `customer ${i}`, score: i * 0.5, active: i % 2 === 0, joined: new Date(Date.UTC(2024, 0, 1) + i * 60_000) };
        });
        await conn.saveEntities(entity, rows, { userId: 'seed' });
      }
      const updates = Array.from({ length: Math.ceil(count / 10) }, (_, k) => ({ id: `c${String(k * 10).padStart(7, '0')}`, name: `renamed ${k * 10}` }));
      for (let start = 0; start < updates.length; start += batch) await conn.saveEntities(entity, updates.slice(start, start + batch), { userId: 'editor' });
    });
  } finally {
    await db.close();
  }
}

/** The rows of the verification table `dal copy` prints: entity, table, counts, checksums, result. */
export function verificationRows(stdout: string): string[][] {
  return stdout
    .trim()
    .split('\n')
    .slice(2)
    .map((line) => line.trim().split(/\s+/));
}
