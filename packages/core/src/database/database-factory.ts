import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { backendNames, registerBackend, registeredBackend, type BackendPackage } from '../config/backends.js';
import { DatabaseConfig, type BackendName } from '../config/database-config.js';
import type { Driver } from '../driver/driver.js';
import { ConfigError, DriverNotInstalledError } from '../errors/errors.js';
import { Database, type DatabaseOptions, type DriverLoader } from './database.js';

export type { BackendPackage } from '../config/backends.js';

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
  static createDatabase(backend: BackendName, config: DatabaseConfig, options?: DatabaseOptions): Database {
    const pkg = typeof backend === 'string' ? registeredBackend(backend) : undefined;
    if (pkg === undefined) {
      throw new ConfigError(`Unknown backend "${String(backend)}": expected one of ${backendNames().join(', ')} (or register one with DatabaseFactory.registerBackend)`);
    }
    if (config === null || typeof config !== 'object' || typeof config.hash !== 'function') {
      throw new ConfigError('DatabaseFactory.createDatabase needs a DatabaseConfig as its second argument');
    }
    return new Database(config, lazyDriver(backend, pkg, config.driverOptions), options);
  }

  /** A Database from a URL (`postgres://…`, `mysql://…`, `sqlite:…`, or a registered plugin's scheme). */
  static fromUrl(url: string, options?: DatabaseOptions): Database {
    const config = DatabaseConfig.fromUrl(url);
    return DatabaseFactory.createDatabase(config.backend!, config, options);
  }

  /**
   * Teach the factory, `DatabaseConfig.fromUrl` and lazy loading a backend from a plugin package
   * (e.g. an Oracle driver); a driver package may call it when imported. Registering the same
   * package again updates its entry.
   *
   * ```ts
   * DatabaseFactory.registerBackend('oracle', { packageName: '@acme/dal-driver-oracle',
   *   factoryExport: 'createOracleDriver', nativePackages: ['oracledb'], urlSchemes: ['oracle'] });
   * ```
   * @throws {ConfigError} when the name or a URL scheme is taken by another package (both are named).
   */
  static registerBackend(name: string, pkg: BackendPackage): void {
    registerBackend(name, pkg);
  }

  /** Names of every known backend. */
  static backends(): string[] {
    return backendNames();
  }
}

function lazyDriver(backend: string, pkg: BackendPackage, driverOptions: Readonly<Record<string, unknown>>): DriverLoader {
  const fromModule = (mod: DriverModule): Driver => {
    const factory = mod[pkg.factoryExport];
    if (typeof factory !== 'function') {
      throw new DriverNotInstalledError(`${pkg.packageName} does not export ${pkg.factoryExport}(); is it an @dal driver?`, pkg.packageName);
    }
    return (factory as (options: Readonly<Record<string, unknown>>) => Driver)(driverOptions);
  };
  return {
    backend,
    async load() {
      try {
        return fromModule((await import(pkg.packageName)) as DriverModule);
      } catch (error) {
        if (!isModuleNotFound(error)) throw error;
        // Not resolvable from core's own folder (strict node_modules): try from the app's folder.
        const fromApp = resolveEntry(pkg.packageName, appBases());
        if (fromApp !== undefined) {
          try {
            // The CJS build turns import() into require(), which takes a path, not a file: URL.
            return fromModule((await import(loadedAsCommonJs ? fromApp : pathToFileURL(fromApp).href)) as DriverModule);
          } catch (inner) {
            if (!isModuleNotFound(inner)) throw inner;
            throw notInstalled(backend, pkg, inner);
          }
        }
        throw notInstalled(backend, pkg, error);
      }
    },
    loadSync() {
      // From core's own folder first, then the app's; the entry of core's own module system.
      const entry = resolveEntry(pkg.packageName, [import.meta.url, ...appBases()]);
      if (entry === undefined) throw notInstalled(backend, pkg, new Error(`Cannot find package '${pkg.packageName}'`));
      try {
        // Requiring an ESM entry needs Node >= 20.19 (require(esm)); it shares the ESM instance.
        return fromModule(createRequire(import.meta.url)(entry) as DriverModule);
      } catch (error) {
        if (isModuleNotFound(error)) throw notInstalled(backend, pkg, error);
        throw error;
      }
    },
  };
}

// Core itself may run as ESM or CJS; a driver must be loaded through the same module system,
// or its errors would be classes of a second copy of core (the dual-package hazard).
const loadedAsCommonJs = typeof module !== 'undefined' && typeof module.exports === 'object';

/** Where the application's own dependencies resolve from: its entry script, then the working directory. */
function appBases(): string[] {
  return [process.argv[1], join(process.cwd(), 'noop.js')].filter((b): b is string => typeof b === 'string' && b.length > 0);
}

/**
 * Resolve a package's entry file from the first base that can see it (strict layouts such as
 * pnpm's do not let core see the app's dependencies), picking the entry of core's own module system.
 */
function resolveEntry(packageName: string, bases: readonly string[]): string | undefined {
  for (const base of bases) {
    try {
      const requireFromBase = createRequire(base);
      if (loadedAsCommonJs) return requireFromBase.resolve(packageName);
      const manifestPath = requireFromBase.resolve(`${packageName}/package.json`);
      return join(dirname(manifestPath), esmEntry(JSON.parse(readFileSync(manifestPath, 'utf8')) as PackageManifest));
    } catch {
      // try the next base
    }
  }
  return undefined;
}

interface PackageManifest {
  exports?: { '.'?: { import?: string | { default?: string } } };
  module?: string;
  main?: string;
}

function esmEntry(manifest: PackageManifest): string {
  const fromExports = manifest.exports?.['.']?.import;
  const entry = typeof fromExports === 'string' ? fromExports : (fromExports?.default ?? manifest.module ?? manifest.main);
  if (entry === undefined) throw new Error('no entry point');
  return entry;
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
