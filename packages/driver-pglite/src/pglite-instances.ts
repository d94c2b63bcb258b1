import { resolve } from 'node:path';
import { DriverNotInstalledError } from '@dal/core';
import type { PGlite, PGliteOptions } from '@electric-sql/pglite';
import { SessionLock } from './session-lock.js';

/** One PGlite database of this process and the drivers using it. */
interface Shared {
  readonly instance: Promise<PGlite>;
  readonly session: SessionLock;
  users: number;
}

/** A driver's hold on an instance. */
export interface InstanceLease {
  readonly instance: Promise<PGlite>;
  /** Taken by a connection for the length of its transactions. */
  readonly session: SessionLock;
  /** Close the instance when no other lease holds it. */
  release(): Promise<void>;
}

/**
 * Instances by data directory. Two PGlite instances on one directory would corrupt it, so every
 * driver of the process on that directory shares one; it closes when the last driver closes.
 */
const byDirectory = new Map<string, Shared>();

/** Loads the native package only when a connection is first opened, so a missing one is a typed error. */
async function loadPglite(): Promise<typeof PGlite> {
  try {
    return (await import('@electric-sql/pglite')).PGlite;
  } catch (error) {
    throw new DriverNotInstalledError(
      'The "pglite" backend needs @electric-sql/pglite, which is not installed. Install it with: npm install @dal/driver-pglite @electric-sql/pglite',
      '@electric-sql/pglite',
      { cause: error },
    );
  }
}

async function start(dataDir: string | undefined, options: PGliteOptions): Promise<PGlite> {
  const PGliteClass = await loadPglite();
  return PGliteClass.create(dataDir, options);
}

/** Where a config's database lives: undefined for ':memory:', else a directory (or a PGlite 'memory://name' style URL). */
function dataDirOf(database: string): string | undefined {
  if (database === ':memory:') return undefined;
  return database.includes('://') ? database : resolve(database);
}

/**
 * A lease on the PGlite instance of `database`: a private in-memory one for ':memory:', else the
 * process-wide one of that directory. `release()` closes it when no other lease holds it.
 */
export function leaseInstance(database: string, options: PGliteOptions): InstanceLease {
  const dataDir = dataDirOf(database);
  if (dataDir === undefined) {
    const instance = start(undefined, options);
    return { instance, session: new SessionLock(), release: async () => (await instance.catch(() => undefined))?.close() };
  }
  let shared = byDirectory.get(dataDir);
  if (shared === undefined) {
    shared = { instance: start(dataDir, options), session: new SessionLock(), users: 0 };
    // A failed start is not kept: the next lease tries again.
    shared.instance.catch(() => byDirectory.get(dataDir) === shared && byDirectory.delete(dataDir));
    byDirectory.set(dataDir, shared);
  }
  shared.users++;
  const held = shared;
  let released = false;
  return {
    instance: held.instance,
    session: held.session,
    async release() {
      if (released) return;
      released = true;
      if (--held.users > 0) return;
      if (byDirectory.get(dataDir) === held) byDirectory.delete(dataDir);
      const pg = await held.instance.catch(() => undefined);
      if (pg !== undefined && !pg.closed) await pg.close();
    },
  };
}
