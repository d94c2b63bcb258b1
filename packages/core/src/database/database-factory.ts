import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DatabaseConfig } from '../config/database-config.js';
import type { Driver } from '../driver/driver.js';
import { ConfigError, DriverNotInstalledError } from '../errors/errors.js';
import { Database, type DatabaseOptions, type DriverLoader } from './database.js';

/** Where a backend's driver lives: the package, its factory export, and the native client it needs. */
export interface BackendPackage {
  /** npm package of the driver, e.g. '@dal/driver-postgres'. */
  readonly packageName: string;
  /** Named export that creates the driver, e.g. 'createPostgresDriver'. */
  readonly factoryExport: string;
  /** Native client packages the driver needs installed beside it (named in the error when missing). */
  readonly nativePackages: readonly string[];
}

const backends = new Map<string, BackendPackage>([
  ['postgres', { packageName: '@dal/driver-postgres', factoryExport: 'createPostgresDriver', nativePackages: ['pg'] }],
  ['mysql', { packageName: '@dal/driver-mysql', factoryExport: 'createMysqlDriver', nativePackages: ['mysql2'] }],
  ['sqlite', { packageName: '@dal/driver-sqlite', factoryExport: 'createSqliteDriver', nativePackages: ['better-sqlite3'] }],
]);

type DriverModule = Record<string, unknown>;

/**
 * Creates `Database`s by backend name, loading the driver package on first use so that apps
 * install only the backends they use.
 *
 * ```ts
 * const db = DatabaseFactory.createDatabase('postgres', config);
 * ```
 */
export class DatabaseFactory {
  private constructor() {}

  /**
   * A Database for `backend` ('postgres' | 'mysql' | 'sqlite' or a registered plugin). The driver
   * package is imported on first use; if it is not installed, that first call rejects with
   * `DriverNotInstalledError` naming the package to install.
   * @throws {ConfigError} for an unknown backend name.
   */
  static createDatabase(backend: string, config: DatabaseConfig, options?: DatabaseOptions): Database {
    const pkg = backends.get(backend);
    if (pkg === undefined) {
      throw new ConfigError(`Unknown backend "${String(backend)}": expected one of ${[...backends.keys()].join(', ')} (or register one with DatabaseFactory.registerBackend)`);
    }
    if (config === null || typeof config !== 'object' || typeof config.hash !== 'function') {
      throw new ConfigError('DatabaseFactory.createDatabase needs a DatabaseConfig as its second argument');
    }
    return new Database(config, lazyDriver(backend, pkg), options);
  }

  /** A Database from a URL (`postgres://…`, `mysql://…`, `sqlite:…`). */
  static fromUrl(url: string, options?: DatabaseOptions): Database {
    const config = DatabaseConfig.fromUrl(url);
    return DatabaseFactory.createDatabase(config.backend!, config, options);
  }

  /** Teach the factory a backend from a plugin package (e.g. an Oracle driver). */
  static registerBackend(name: string, pkg: BackendPackage): void {
    backends.set(name, pkg);
  }

  /** Names of every known backend. */
  static backends(): string[] {
    return [...backends.keys()];
  }
}

function lazyDriver(backend: string, pkg: BackendPackage): DriverLoader {
  const fromModule = (mod: DriverModule): Driver => {
    const factory = mod[pkg.factoryExport];
    if (typeof factory !== 'function') {
      throw new DriverNotInstalledError(`${pkg.packageName} does not export ${pkg.factoryExport}(); is it an @dal driver?`, pkg.packageName);
    }
    return (factory as () => Driver)();
  };
  return {
    async load() {
      try {
        return fromModule((await import(pkg.packageName)) as DriverModule);
      } catch (error) {
        if (!isModuleNotFound(error)) throw error;
        // Not resolvable from core's own folder (strict node_modules): try from the app's folder.
        const fromApp = resolveFromApp(pkg.packageName);
        if (fromApp !== undefined) {
          try {
            return fromModule((await import(pathToFileURL(fromApp).href)) as DriverModule);
          } catch (inner) {
            if (!isModuleNotFound(inner)) throw inner;
            throw notInstalled(backend, pkg, inner);
          }
        }
        throw notInstalled(backend, pkg, error);
      }
    },
    loadSync() {
      const requireFrom = createRequire(join(process.cwd(), 'noop.js'));
      try {
        return fromModule(requireFrom(pkg.packageName) as DriverModule);
      } catch (error) {
        if (isModuleNotFound(error)) throw notInstalled(backend, pkg, error);
        throw error;
      }
    },
  };
}

function resolveFromApp(packageName: string): string | undefined {
  try {
    return createRequire(join(process.cwd(), 'noop.js')).resolve(packageName);
  } catch {
    return undefined;
  }
}

function isModuleNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

function notInstalled(backend: string, pkg: BackendPackage, cause: unknown): DriverNotInstalledError {
  const message = String((cause as Error | undefined)?.message ?? '');
  const missingNative = pkg.nativePackages.find((name) => message.includes(`'${name}'`) || message.includes(`"${name}"`));
  const missing = missingNative ?? pkg.packageName;
  const install = [pkg.packageName, ...pkg.nativePackages].join(' ');
  return new DriverNotInstalledError(
    `The "${backend}" backend needs ${missing}, which is not installed. Install it with: npm install ${install}`,
    missing,
    { cause },
  );
}
