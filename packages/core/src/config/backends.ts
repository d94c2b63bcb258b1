import { ConfigError } from '../errors/errors.js';

/**
 * Where a backend's driver lives and how its URLs look: what `DatabaseFactory.registerBackend`
 * takes. The factory, `DatabaseConfig.fromUrl` and lazy loading read only this, so a plugin
 * registered here works exactly as a built-in.
 */
export interface BackendPackage {
  /** npm package of the driver, e.g. '@dal/driver-postgres'. */
  readonly packageName: string;
  /** Named export that creates the driver from `config.driverOptions`, e.g. 'createPostgresDriver'. */
  readonly factoryExport: string;
  /** Native client packages the driver needs installed beside it (named in the error when missing). */
  readonly nativePackages: readonly string[];
  /** URL schemes `DatabaseConfig.fromUrl` maps to this backend, without ':' (default: its name). */
  readonly urlSchemes?: readonly string[];
  /**
   * No server: the database is a file path or ':memory:' (`scheme:///abs/path`, `scheme://./rel`,
   * `scheme::memory:`), and a `tls` setting is refused (default false).
   */
  readonly embedded?: boolean;
}

/** A registered backend, schemes filled in. */
interface Registration extends BackendPackage {
  readonly urlSchemes: readonly string[];
}

const byName = new Map<string, Registration>();
const byScheme = new Map<string, string>();

/**
 * Make a backend known by name and URL schemes. Registering the same package again (a driver
 * module loaded twice, or registering itself over its built-in entry) updates it.
 * @throws {ConfigError} when the name or a scheme belongs to another package's backend, naming both packages.
 */
export function registerBackend(name: string, pkg: BackendPackage): void {
  if (typeof name !== 'string' || !/^[a-z][a-z0-9_-]*$/i.test(name)) {
    throw new ConfigError(`registerBackend: the name must be a plain identifier, got ${JSON.stringify(name)}`);
  }
  if (pkg === null || typeof pkg !== 'object' || typeof pkg.packageName !== 'string' || pkg.packageName === '' || typeof pkg.factoryExport !== 'string' || pkg.factoryExport === '') {
    throw new ConfigError(`registerBackend("${name}"): needs { packageName, factoryExport, nativePackages }`);
  }
  if (!Array.isArray(pkg.nativePackages) || !pkg.nativePackages.every((p) => typeof p === 'string')) {
    throw new ConfigError(`registerBackend("${name}"): nativePackages must be an array of package names`);
  }
  const schemes = (pkg.urlSchemes ?? [name]).map((s) => String(s).toLowerCase());
  for (const scheme of schemes) {
    if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) throw new ConfigError(`registerBackend("${name}"): invalid URL scheme "${scheme}"`);
  }
  const taken = byName.get(name);
  if (taken !== undefined && taken.packageName !== pkg.packageName) {
    throw new ConfigError(`registerBackend: the backend name "${name}" of ${pkg.packageName} is already taken by ${taken.packageName}`);
  }
  for (const scheme of schemes) {
    const owner = byName.get(byScheme.get(scheme) ?? '');
    if (owner !== undefined && owner.packageName !== pkg.packageName) {
      throw new ConfigError(`registerBackend: the URL scheme "${scheme}:" of ${pkg.packageName} is already taken by ${owner.packageName}`);
    }
  }
  for (const scheme of taken?.urlSchemes ?? []) byScheme.delete(scheme);
  byName.set(name, Object.freeze({ ...pkg, nativePackages: Object.freeze([...pkg.nativePackages]), urlSchemes: Object.freeze(schemes) }));
  for (const scheme of schemes) byScheme.set(scheme, name);
}

/** The registration of `name`, or undefined. */
export function registeredBackend(name: string): Registration | undefined {
  return byName.get(name);
}

/** The backend a URL scheme belongs to, or undefined. */
export function backendOfScheme(scheme: string): string | undefined {
  return byScheme.get(scheme.toLowerCase());
}

/** Names of every registered backend, in registration order. */
export function backendNames(): string[] {
  return [...byName.keys()];
}

/** Every registered URL scheme, for messages. */
export function urlSchemes(): string[] {
  return [...byScheme.keys()];
}

// The built-in backends: registrations like any plugin's, made here so that their drivers load lazily.
registerBackend('postgres', { packageName: '@dal/driver-postgres', factoryExport: 'createPostgresDriver', nativePackages: ['pg'], urlSchemes: ['postgres', 'postgresql'] });
registerBackend('mysql', { packageName: '@dal/driver-mysql', factoryExport: 'createMysqlDriver', nativePackages: ['mysql2'], urlSchemes: ['mysql', 'mariadb'] });
registerBackend('sqlite', { packageName: '@dal/driver-sqlite', factoryExport: 'createSqliteDriver', nativePackages: ['better-sqlite3'], urlSchemes: ['sqlite'], embedded: true });
