import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { ConfigError } from '../errors/errors.js';
import { backendOfScheme, registeredBackend, urlSchemes } from './backends.js';
import { TLS_URL_PARAMETERS, TlsSettings, tlsFromUrlParameters, type TlsOptions } from './tls.js';

/**
 * A backend's registered name: the built-ins, or any name a plugin registered with
 * `DatabaseFactory.registerBackend` (the literals are there for autocompletion).
 */
export type BackendName = 'postgres' | 'mysql' | 'sqlite' | (string & {});

export interface DatabaseConfigOptions {
  /** Database name; for SQLite a file path or ':memory:'. */
  database: string;
  host?: string;
  /** Defaults to the backend's usual port (5432, 3306) when omitted. */
  port?: number;
  user?: string;
  /**
   * The password, or a function returning it (a cloud IAM token, a secrets manager lookup),
   * called for each new physical connection. Never part of `hash()`, `toJSON()` or messages.
   */
  password?: PasswordSource;
  /** TLS for the connection (PostgreSQL, MySQL); see `TlsOptions`. Not for SQLite. */
  tls?: TlsOptions;
  /** Friendly name used in logs, errors and metrics; defaults to `database`. */
  alias?: string;
  /** Deployment environment label; 'prod' by default. */
  env?: string;
  /** Backend this config is meant for; set by `fromUrl`, optional otherwise. */
  backend?: BackendName;
  /** Wait for a pooled connection (default 10 s). */
  connectionAcquisitionTimeoutMs?: number;
  /** Build the pool, including its first connection (default 30 s). */
  poolCreationTimeoutMs?: number;
  /** Default per-statement timeout, overridable per call (default 60 s). */
  queryExecutionTimeoutMs?: number;
  /** Open one physical connection (default 15 s). */
  connectionCreationTimeoutMs?: number;
  /** Connections kept open even when idle (default 1). */
  poolMin?: number;
  /** Most connections open at once (default: 4 per CPU, between 4 and 20). */
  poolMax?: number;
  /** An idle connection above poolMin is closed after this long (default 10 min). */
  idleTimeoutMs?: number;
  /** A connection is closed once this old, when next idle (default 30 min). */
  maxLifetimeMs?: number;
  /** Statements slower than this are reported as slow (default 2 s). */
  slowQueryThresholdMs?: number;
  /** Extra options handed to the driver as they are (ssl, socketPath, pragmas, ...). */
  driverOptions?: Readonly<Record<string, unknown>>;
  /**
   * Several servers to try in order ('host:port' or objects); `host`/`port` are the first when
   * omitted. When one cannot be reached, new connections go to the next; the first is tried
   * again after `failbackAfterMs`.
   */
  hosts?: ReadonlyArray<string | HostAddress>;
  /** How long to stay on a fallback host before trying the first one again (default 30 s). */
  failbackAfterMs?: number;
  /**
   * The pool's circuit breaker, or false for none. It opens when new connections cannot be opened
   * (not when a session in use breaks), and a background probe closes it as soon as the server
   * answers again; meanwhile callers wait for it within their acquisition timeout.
   */
  circuitBreaker?: CircuitBreakerSettings | false;
  /** Retry of transient connection failures (never inside a transaction, never once a statement was sent), or false. */
  retry?: RetrySettings | false;
  /** A connection held longer than this is reported as leaked, with its acquisition stack (default 5 min). */
  leakDetectionThresholdMs?: number;
  /** Window of the timeout rate behind the scaling advice (default 5 min). */
  metricsWindowMs?: number;
  /** Include parameter values in slow-query logs (default false: they may hold personal data). */
  logParameterValues?: boolean;
  /**
   * The connection pooler between the application and the server, when there is one that shares
   * server sessions between clients. `'pgbouncer-transaction'` (PgBouncer with
   * `pool_mode = transaction`): PostgreSQL connections then send no startup parameters PgBouncer
   * refuses, use no named prepared statements, bound statements with `SET LOCAL` or a cancel
   * request, and reject session state (`SET` without LOCAL, `LISTEN`, session advisory locks).
   */
  pooler?: PoolerMode;
  /**
   * Let `db.execute` / `query` / `executeFirst` share connections, several statements in flight on
   * one, where the driver can (PostgreSQL). Default true, and false behind a `pooler` (true with
   * one is a ConfigError); set false for a server or proxy that mishandles pipelined statements.
   */
  pipelining?: boolean;
  /**
   * Read replicas of this database ('host:port' or objects). Everything still runs on the primary
   * unless asked: `db.replica()` reads from a healthy replica (see docs/scaling.md).
   */
  replicas?: ReadonlyArray<string | HostAddress>;
  /** A replica more than this far behind the primary (in time) takes no reads until it catches up (default: no limit). */
  maxLagMs?: number;
  /** A replica more than this many WAL bytes behind takes no reads (PostgreSQL; default: no limit). */
  maxLagBytes?: number;
  /** How often each node's role, health and position are checked again (default 2 s). */
  replicaRecheckMs?: number;
  /** Where `db.replica()` reads go when no replica is usable: the primary (default) or an error. */
  replicaFallback?: ReplicaFallback;
}

/**
 * Every option name `DatabaseConfig` accepts; any other key is a ConfigError. The Record type makes
 * the compiler insist that this lists exactly the keys of DatabaseConfigOptions: a new option is
 * added here and in the interface above.
 */
const OPTION_NAMES: Readonly<Record<keyof DatabaseConfigOptions, true>> = {
  database: true,
  host: true,
  port: true,
  user: true,
  password: true,
  tls: true,
  alias: true,
  env: true,
  backend: true,
  connectionAcquisitionTimeoutMs: true,
  poolCreationTimeoutMs: true,
  queryExecutionTimeoutMs: true,
  connectionCreationTimeoutMs: true,
  poolMin: true,
  poolMax: true,
  idleTimeoutMs: true,
  maxLifetimeMs: true,
  slowQueryThresholdMs: true,
  driverOptions: true,
  hosts: true,
  failbackAfterMs: true,
  circuitBreaker: true,
  retry: true,
  leakDetectionThresholdMs: true,
  metricsWindowMs: true,
  logParameterValues: true,
  pooler: true,
  pipelining: true,
  replicas: true,
  maxLagMs: true,
  maxLagBytes: true,
  replicaRecheckMs: true,
  replicaFallback: true,
};

/** Connection poolers @dal knows how to work behind (see `DatabaseConfigOptions.pooler`). */
export const POOLER_MODES = ['pgbouncer-transaction'] as const;
export type PoolerMode = (typeof POOLER_MODES)[number];

/** What `db.replica()` does when no replica is usable. */
export type ReplicaFallback = 'primary' | 'error';

/** A password, or a function giving the current one for each new connection. */
export type PasswordSource = string | (() => string | Promise<string>);

/** One server of a multi-host config. */
export interface HostAddress {
  host: string;
  port?: number;
}

export interface CircuitBreakerSettings {
  /** Failed attempts to open a connection, within the window, that open the circuit (default 5). */
  failureThreshold?: number;
  /**
   * Longest wait between two probes while open (default 1 s). Probes start 100 ms after the
   * circuit opens and back off, doubling, up to this; it bounds how long after the server
   * answers again service resumes.
   */
  recoveryTimeoutMs?: number;
  /** @deprecated Has no effect: a pool's breaker recovers by probing, with no half-open trial calls. */
  halfOpenMaxCalls?: number;
  /** Sliding window for counting failures (default 60 s). */
  windowSizeMs?: number;
}

export interface RetrySettings {
  /** Retries after the first attempt (default 3). */
  maxRetries?: number;
  /** First backoff delay, doubled each retry, with jitter (default 100 ms). */
  baseDelayMs?: number;
  /** Cap of one delay (default 10 s). */
  maxDelayMs?: number;
  /** Give up when the next retry would start after this much time (default 30 s). */
  totalTimeoutMs?: number;
}

const DEFAULTS = {
  host: 'localhost',
  env: 'prod',
  connectionAcquisitionTimeoutMs: 10_000,
  poolCreationTimeoutMs: 30_000,
  queryExecutionTimeoutMs: 60_000,
  connectionCreationTimeoutMs: 15_000,
  idleTimeoutMs: 600_000,
  maxLifetimeMs: 1_800_000,
  slowQueryThresholdMs: 2_000,
  failbackAfterMs: 30_000,
  leakDetectionThresholdMs: 300_000,
  metricsWindowMs: 300_000,
  replicaRecheckMs: 2_000,
} as const;

const BREAKER_DEFAULTS: Required<CircuitBreakerSettings> = {
  failureThreshold: 5,
  recoveryTimeoutMs: 1_000,
  halfOpenMaxCalls: 3,
  windowSizeMs: 60_000,
};

const RETRY_DEFAULTS: Required<RetrySettings> = {
  maxRetries: 3,
  baseDelayMs: 100,
  maxDelayMs: 10_000,
  totalTimeoutMs: 30_000,
};

const MAX_DURATION_MS = 2_147_483_647;

const DURATION_KEYS = [
  'connectionAcquisitionTimeoutMs',
  'poolCreationTimeoutMs',
  'queryExecutionTimeoutMs',
  'connectionCreationTimeoutMs',
  'idleTimeoutMs',
  'maxLifetimeMs',
  'slowQueryThresholdMs',
  'failbackAfterMs',
  'leakDetectionThresholdMs',
  'metricsWindowMs',
  'replicaRecheckMs',
] as const;

function defaultPoolMax(): number {
  return Math.min(20, Math.max(4, availableParallelism() * 4));
}

/**
 * Immutable connection settings for one database. Validated at construction.
 *
 * ```ts
 * const config = new DatabaseConfig({ database: 'app', host: 'localhost', user: 'postgres', alias: 'main' });
 * const same = DatabaseConfig.fromUrl('postgres://postgres@localhost:5432/app?alias=main');
 * ```
 * @throws {ConfigError} when a setting is invalid.
 */
export class DatabaseConfig {
  readonly database: string;
  readonly host: string;
  readonly port: number | undefined;
  readonly user: string | undefined;
  readonly alias: string;
  readonly env: string;
  readonly backend: BackendName | undefined;
  readonly connectionAcquisitionTimeoutMs: number;
  readonly poolCreationTimeoutMs: number;
  readonly queryExecutionTimeoutMs: number;
  readonly connectionCreationTimeoutMs: number;
  readonly poolMin: number;
  readonly poolMax: number;
  /** True when poolMin/poolMax were given, false when they are computed defaults. */
  readonly poolSizeExplicit: boolean;
  readonly idleTimeoutMs: number;
  readonly maxLifetimeMs: number;
  readonly slowQueryThresholdMs: number;
  readonly driverOptions: Readonly<Record<string, unknown>>;
  /** Every server to try, in order; the first is `host`/`port`. */
  readonly hosts: ReadonlyArray<Readonly<HostAddress>>;
  readonly failbackAfterMs: number;
  /** The circuit breaker's settings, defaults filled in, or false when disabled. */
  readonly circuitBreaker: Readonly<Required<CircuitBreakerSettings>> | false;
  /** The retry settings, defaults filled in, or false when disabled. */
  readonly retry: Readonly<Required<RetrySettings>> | false;
  readonly leakDetectionThresholdMs: number;
  readonly metricsWindowMs: number;
  readonly logParameterValues: boolean;
  /** The pooler in front of the server, or undefined when the application talks to the server itself. */
  readonly pooler: PoolerMode | undefined;
  /** Pool shortcuts may pipeline statements where the driver can (see `DatabaseConfigOptions.pipelining`). */
  readonly pipelining: boolean;
  /** The validated TLS settings, or undefined when the config sets none (plaintext unless driverOptions say otherwise). */
  readonly tls: TlsSettings | undefined;
  /** The read replicas, in order; empty when there are none. */
  readonly replicas: ReadonlyArray<Readonly<HostAddress>>;
  readonly maxLagMs: number | undefined;
  readonly maxLagBytes: number | undefined;
  readonly replicaRecheckMs: number;
  readonly replicaFallback: ReplicaFallback;
  readonly #password: PasswordSource | undefined;
  #hash: string | undefined;

  constructor(options: DatabaseConfigOptions) {
    if (options === null || typeof options !== 'object') throw new ConfigError('DatabaseConfig needs an options object');
    if (typeof options.database !== 'string' || options.database.length === 0) {
      throw new ConfigError('DatabaseConfig: "database" must be a non-empty string (a file path or ":memory:" for SQLite)');
    }
    this.database = options.database;
    this.alias = options.alias ?? options.database;
    const where = `DatabaseConfig(${this.alias})`;
    rejectUnknownOptions(where, options);
    for (const key of ['host', 'user', 'alias', 'env'] as const) {
      const value = options[key];
      if (value !== undefined && typeof value !== 'string') throw new ConfigError(`${where}: "${key}" must be a string`);
    }
    if (options.password !== undefined && typeof options.password !== 'string' && typeof options.password !== 'function') {
      throw new ConfigError(`${where}: "password" must be a string or a function returning one`);
    }
    this.host = options.host ?? DEFAULTS.host;
    if (options.port !== undefined && !(Number.isInteger(options.port) && options.port > 0 && options.port < 65536)) {
      throw new ConfigError(`${where}: "port" must be an integer between 1 and 65535, got ${String(options.port)}`);
    }
    this.port = options.port;
    this.user = options.user;
    this.#password = options.password;
    this.env = options.env ?? DEFAULTS.env;
    // Any non-empty name: a plugin may register its backend after configs for it are built.
    if (options.backend !== undefined && (typeof options.backend !== 'string' || options.backend === '')) {
      throw new ConfigError(`${where}: "backend" must be a backend name, got ${String(options.backend)}`);
    }
    this.backend = options.backend;

    const durations = {} as Record<(typeof DURATION_KEYS)[number], number>;
    for (const key of DURATION_KEYS) {
      const value = options[key] ?? DEFAULTS[key];
      // Node fires timers longer than 2^31-1 ms at once, so larger values would mean "immediately".
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_DURATION_MS) {
        throw new ConfigError(`${where}: "${key}" must be a positive number of milliseconds up to ${MAX_DURATION_MS}, got ${String(value)}`);
      }
      durations[key] = value;
    }
    this.connectionAcquisitionTimeoutMs = durations.connectionAcquisitionTimeoutMs;
    this.poolCreationTimeoutMs = durations.poolCreationTimeoutMs;
    this.queryExecutionTimeoutMs = durations.queryExecutionTimeoutMs;
    this.connectionCreationTimeoutMs = durations.connectionCreationTimeoutMs;
    this.idleTimeoutMs = durations.idleTimeoutMs;
    this.maxLifetimeMs = durations.maxLifetimeMs;
    this.slowQueryThresholdMs = durations.slowQueryThresholdMs;

    this.poolSizeExplicit = options.poolMin !== undefined || options.poolMax !== undefined;
    const poolMax = options.poolMax ?? Math.max(defaultPoolMax(), options.poolMin ?? 0);
    const poolMin = options.poolMin ?? Math.min(1, poolMax);
    if (!Number.isInteger(poolMax) || poolMax < 1) throw new ConfigError(`${where}: "poolMax" must be an integer >= 1, got ${String(poolMax)}`);
    if (!Number.isInteger(poolMin) || poolMin < 0) throw new ConfigError(`${where}: "poolMin" must be an integer >= 0, got ${String(poolMin)}`);
    if (poolMin > poolMax) throw new ConfigError(`${where}: poolMin (${poolMin}) must not exceed poolMax (${poolMax})`);
    this.poolMin = poolMin;
    this.poolMax = poolMax;
    this.driverOptions = Object.freeze({ ...(options.driverOptions ?? {}) });
    this.tls = options.tls === undefined ? undefined : new TlsSettings(where, options.tls);
    if (this.tls !== undefined && 'ssl' in this.driverOptions) {
      throw new ConfigError(`${where}: set TLS either with "tls" or with driverOptions.ssl, not both`);
    }
    if (this.tls !== undefined && this.backend !== undefined && registeredBackend(this.backend)?.embedded === true) {
      throw new ConfigError(`${where}: the "${this.backend}" backend is embedded (no server) and takes no "tls" setting`);
    }
    this.failbackAfterMs = durations.failbackAfterMs;
    this.leakDetectionThresholdMs = durations.leakDetectionThresholdMs;
    this.metricsWindowMs = durations.metricsWindowMs;
    if (options.logParameterValues !== undefined && typeof options.logParameterValues !== 'boolean') {
      throw new ConfigError(`${where}: "logParameterValues" must be a boolean`);
    }
    this.logParameterValues = options.logParameterValues ?? false;
    if (options.pooler !== undefined && !(POOLER_MODES as readonly unknown[]).includes(options.pooler)) {
      throw new ConfigError(`${where}: "pooler" must be one of ${POOLER_MODES.map((m) => `'${m}'`).join(', ')}, got ${String(options.pooler)}`);
    }
    // PgBouncer speaks PostgreSQL's protocol: a MySQL or embedded backend would ignore the setting.
    if (options.pooler !== undefined && this.backend !== undefined && (this.backend === 'mysql' || registeredBackend(this.backend)?.embedded === true)) {
      throw new ConfigError(`${where}: "pooler" '${options.pooler}' is for PostgreSQL servers, not the "${this.backend}" backend`);
    }
    this.pooler = options.pooler;
    if (options.pipelining !== undefined && typeof options.pipelining !== 'boolean') {
      throw new ConfigError(`${where}: "pipelining" must be a boolean`);
    }
    // A pipelined statement may raise the session's statement_timeout, which a transaction-mode
    // pooler would hand to other clients: behind one, statements keep a connection each.
    if (options.pipelining === true && this.pooler !== undefined) {
      throw new ConfigError(`${where}: "pipelining" cannot be used with "pooler" '${this.pooler}' (statements behind a transaction-mode pooler keep a connection each)`);
    }
    this.pipelining = options.pipelining ?? this.pooler === undefined;
    this.hosts = Object.freeze(parseHosts(where, options.hosts, this.host, this.port));
    if (options.hosts !== undefined && options.host === undefined) {
      this.host = this.hosts[0]!.host;
      this.port = this.hosts[0]!.port;
    }
    this.replicas = Object.freeze(options.replicas === undefined || (Array.isArray(options.replicas) && options.replicas.length === 0) ? [] : parseHosts(where, options.replicas, this.host, this.port, 'replicas'));
    for (const key of ['maxLagMs', 'maxLagBytes'] as const) {
      const value = options[key];
      if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 0)) {
        throw new ConfigError(`${where}: "${key}" must be a non-negative number, got ${String(value)}`);
      }
    }
    this.maxLagMs = options.maxLagMs;
    this.maxLagBytes = options.maxLagBytes;
    this.replicaRecheckMs = durations.replicaRecheckMs;
    if (options.replicaFallback !== undefined && options.replicaFallback !== 'primary' && options.replicaFallback !== 'error') {
      throw new ConfigError(`${where}: "replicaFallback" must be 'primary' or 'error', got ${String(options.replicaFallback)}`);
    }
    this.replicaFallback = options.replicaFallback ?? 'primary';
    this.circuitBreaker = settingsOrFalse(where, 'circuitBreaker', options.circuitBreaker, BREAKER_DEFAULTS, [], ['failureThreshold', 'halfOpenMaxCalls']);
    this.retry = settingsOrFalse(where, 'retry', options.retry, RETRY_DEFAULTS, ['maxRetries'], ['maxRetries']);
    Object.freeze(this);
  }

  /**
   * The password as given (a string or a function), for drivers only; never part of `hash()`,
   * `toJSON()` or messages. Drivers that need the string call `resolvePassword()`.
   */
  get password(): PasswordSource | undefined {
    return this.#password;
  }

  /**
   * The password for one new connection: the string, or what the password function returns now.
   * @throws {ConfigError} when the function returns something other than a string.
   * @throws whatever the password function throws.
   */
  async resolvePassword(): Promise<string | undefined> {
    const source = this.#password;
    if (typeof source !== 'function') return source;
    const value: unknown = await source();
    if (typeof value !== 'string') throw new ConfigError(`${this.toString()}: the password function must return a string, got ${typeof value}`);
    return value;
  }

  /**
   * Build a config from a URL: `postgres://user:pw@host:5432/db?alias=main&poolMax=10`,
   * `mysql://root@127.0.0.1/test`, `sqlite:///abs/path.db`, `sqlite::memory:`.
   * Query parameters may set `alias`, `env` and any numeric option by its name, and TLS with
   * libpq's names: `sslmode`, `sslrootcert`, `sslcert`, `sslkey` (file paths, read now) or `ssl=true`.
   * @throws {ConfigError} for a malformed URL, an unknown scheme or an unknown query parameter.
   */
  static fromUrl(url: string, overrides: Partial<DatabaseConfigOptions> = {}): DatabaseConfig {
    if (typeof url !== 'string') throw new ConfigError('DatabaseConfig.fromUrl needs a string');
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
    const backend = scheme === undefined ? undefined : backendOfScheme(scheme);
    if (backend === undefined) {
      throw new ConfigError(
        `DatabaseConfig.fromUrl: unknown URL scheme "${scheme ?? ''}" (expected ${urlSchemes().map((s) => `${s}:`).join(', ')}; a plugin's scheme is known once its driver package is imported)`,
      );
    }
    const embedded = registeredBackend(backend)?.embedded === true;
    if (embedded && /^[a-z][a-z0-9+.-]*::memory:/i.test(url)) {
      return new DatabaseConfig({ database: ':memory:', backend, ...queryOptions(url.slice(url.indexOf('?') >>> 0)), ...overrides });
    }
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (cause) {
      throw new ConfigError('DatabaseConfig.fromUrl: malformed URL', { cause: redactedCause(cause) });
    }
    const query = queryOptions(parsed.search);
    if (embedded) {
      // sqlite:///abs/path.db, sqlite://./relative.db
      const path = decodeURIComponent(parsed.host ? parsed.host + parsed.pathname : parsed.pathname);
      return new DatabaseConfig({ database: path, backend, ...query, ...overrides });
    }
    const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
    return new DatabaseConfig({
      database,
      backend,
      host: parsed.hostname || undefined,
      port: parsed.port ? Number(parsed.port) : undefined,
      user: parsed.username ? decodeURIComponent(parsed.username) : undefined,
      password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
      ...query,
      ...overrides,
    });
  }

  /** Stable key over every setting except the password (TLS key included, as a digest); pools are shared per hash. */
  hash(): string {
    this.#hash ??= createHash('sha256')
      .update(JSON.stringify(this.toJSON()))
      .update(this.tls?.hashInput() ?? '')
      .digest('hex')
      .slice(0, 16);
    return this.#hash;
  }

  /** Every setting, password and TLS key redacted, certificates as fingerprints. */
  toJSON(): Record<string, unknown> {
    return {
      backend: this.backend,
      database: this.database,
      host: this.host,
      port: this.port,
      user: this.user,
      password: this.#password === undefined ? undefined : '***',
      alias: this.alias,
      env: this.env,
      connectionAcquisitionTimeoutMs: this.connectionAcquisitionTimeoutMs,
      poolCreationTimeoutMs: this.poolCreationTimeoutMs,
      queryExecutionTimeoutMs: this.queryExecutionTimeoutMs,
      connectionCreationTimeoutMs: this.connectionCreationTimeoutMs,
      poolMin: this.poolMin,
      poolMax: this.poolMax,
      idleTimeoutMs: this.idleTimeoutMs,
      maxLifetimeMs: this.maxLifetimeMs,
      slowQueryThresholdMs: this.slowQueryThresholdMs,
      driverOptions: sortedKeys(this.driverOptions),
      hosts: this.hosts,
      failbackAfterMs: this.failbackAfterMs,
      circuitBreaker: this.circuitBreaker,
      retry: this.retry,
      leakDetectionThresholdMs: this.leakDetectionThresholdMs,
      metricsWindowMs: this.metricsWindowMs,
      logParameterValues: this.logParameterValues,
      pooler: this.pooler,
      pipelining: this.pipelining,
      tls: this.tls?.toJSON(),
      replicas: this.replicas,
      maxLagMs: this.maxLagMs,
      maxLagBytes: this.maxLagBytes,
      replicaRecheckMs: this.replicaRecheckMs,
      replicaFallback: this.replicaFallback,
    };
  }

  /** A copy with some settings changed. */
  with(changes: Partial<DatabaseConfigOptions>): DatabaseConfig {
    const current = this.toJSON() as unknown as DatabaseConfigOptions;
    const next: DatabaseConfigOptions = { ...current, password: this.#password, driverOptions: this.driverOptions, tls: this.tls?.toOptions(), ...changes };
    if (next.tls === undefined) delete next.tls;
    // A new host or port replaces the host list derived from the old ones.
    if ((changes.host !== undefined || changes.port !== undefined) && changes.hosts === undefined) delete next.hosts;
    if (!this.poolSizeExplicit && changes.poolMin === undefined && changes.poolMax === undefined) {
      delete next.poolMin;
      delete next.poolMax;
    }
    return new DatabaseConfig(next);
  }

  toString(): string {
    return `DatabaseConfig(${this.alias})`;
  }
}

const NUMERIC_QUERY_KEYS = new Set<string>([...DURATION_KEYS, 'poolMin', 'poolMax', 'port']);
const TEXT_QUERY_KEYS = new Set<string>(['alias', 'env', 'pooler']);
/** On/off settings a URL may carry as `true` or `false` (e.g. `?pipelining=false` for a proxy). */
const BOOLEAN_QUERY_KEYS = new Set<string>(['pipelining']);

/** The options a URL's query string sets; a parameter this does not know is an error, never dropped. */
function queryOptions(search: string): Partial<DatabaseConfigOptions> {
  const result: Record<string, unknown> = {};
  const tlsParameters = new Map<string, string>();
  for (const [key, value] of new URLSearchParams(search)) {
    if (TEXT_QUERY_KEYS.has(key)) result[key] = value;
    else if (NUMERIC_QUERY_KEYS.has(key)) {
      const n = Number(value);
      if (value === '' || !Number.isFinite(n)) throw new ConfigError(`DatabaseConfig.fromUrl: "${key}" must be a number`);
      result[key] = n;
    } else if (BOOLEAN_QUERY_KEYS.has(key)) {
      if (value !== 'true' && value !== 'false') throw new ConfigError(`DatabaseConfig.fromUrl: "${key}" must be true or false`);
      result[key] = value === 'true';
    } else if ((TLS_URL_PARAMETERS as readonly string[]).includes(key)) tlsParameters.set(key, value);
    else {
      const known = [...TEXT_QUERY_KEYS, ...TLS_URL_PARAMETERS, ...NUMERIC_QUERY_KEYS, ...BOOLEAN_QUERY_KEYS];
      throw new ConfigError(`DatabaseConfig.fromUrl: unknown query parameter "${key}"${didYouMean(key, known)} (known: ${known.join(', ')})`);
    }
  }
  const tls = tlsFromUrlParameters(tlsParameters);
  if (tls !== undefined) result['tls'] = tls;
  return result as Partial<DatabaseConfigOptions>;
}

/** A misspelt or unsupported option would otherwise be silently ignored: refuse it, naming the valid ones. */
function rejectUnknownOptions(where: string, options: object): void {
  const unknown = Object.keys(options).filter((key) => !Object.hasOwn(OPTION_NAMES, key));
  if (unknown.length === 0) return;
  const known = Object.keys(OPTION_NAMES);
  const first = unknown[0]!;
  const names = unknown.map((key) => `"${key}"`).join(', ');
  throw new ConfigError(`${where}: unknown option${unknown.length > 1 ? 's' : ''} ${names}${didYouMean(first, known)} (valid: ${known.join(', ')})`);
}

/**
 * ' (did you mean "x"?)' for the closest known name (case ignored) within a few edits, or that
 * holds the given letters in order (a shortened name: queryTimeoutMs), else ''.
 */
function didYouMean(given: string, known: readonly string[]): string {
  const wanted = given.toLowerCase();
  const maxEdits = Math.max(2, Math.floor(wanted.length / 3));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const name of known) {
    const candidate = name.toLowerCase();
    const distance = editDistance(wanted, candidate);
    const close = distance <= maxEdits || (wanted.length >= 6 && isSubsequence(wanted, candidate));
    if (close && distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best === undefined ? '' : ` (did you mean "${best}"?)`;
}

function isSubsequence(short: string, long: string): boolean {
  let i = 0;
  for (const char of long) if (char === short[i]) i++;
  return i === short.length;
}

/** Levenshtein distance (insertions, deletions, substitutions), one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** URL parse errors quote the input, which may contain a password: keep only the kind of error. */
function redactedCause(cause: unknown): Error {
  return new Error(cause instanceof Error ? cause.name : 'invalid URL');
}

function sortedKeys(obj: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(obj).sort()) out[key] = obj[key];
  return out;
}

function parseHosts(where: string, hosts: DatabaseConfigOptions['hosts'], host: string, port: number | undefined, name = 'hosts'): HostAddress[] {
  if (hosts === undefined) return [port === undefined ? { host } : { host, port }];
  if (!Array.isArray(hosts) || hosts.length === 0) throw new ConfigError(`${where}: "${name}" must be a non-empty array`);
  return hosts.map((entry) => {
    if (typeof entry === 'string') {
      const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry);
      if (match === null) throw new ConfigError(`${where}: invalid host "${entry}" (expected host or host:port)`);
      const parsedPort = match[2] === undefined ? undefined : Number(match[2]);
      return checkedHost(where, { host: match[1]!.replace(/^\[|\]$/g, ''), ...(parsedPort === undefined ? {} : { port: parsedPort }) });
    }
    if (entry === null || typeof entry !== 'object' || typeof entry.host !== 'string' || entry.host === '') {
      throw new ConfigError(`${where}: each of "${name}" must be "host:port" or { host, port }`);
    }
    return checkedHost(where, entry.port === undefined ? { host: entry.host } : { host: entry.host, port: entry.port });
  });
}

function checkedHost(where: string, address: HostAddress): HostAddress {
  if (address.port !== undefined && !(Number.isInteger(address.port) && address.port > 0 && address.port < 65536)) {
    throw new ConfigError(`${where}: port of host "${address.host}" must be an integer between 1 and 65535`);
  }
  return Object.freeze(address);
}

function settingsOrFalse<T extends object>(
  where: string,
  name: string,
  given: Partial<T> | false | undefined,
  defaults: Required<T>,
  zeroAllowed: readonly string[] = [],
  integerKeys: readonly string[] = [],
): Readonly<Required<T>> | false {
  if (given === false) return false;
  if (given !== undefined && (given === null || typeof given !== 'object')) throw new ConfigError(`${where}: "${name}" must be an object or false`);
  for (const key of Object.keys(given ?? {})) {
    if (!(key in defaults)) throw new ConfigError(`${where}: unknown option "${name}.${key}" (expected ${Object.keys(defaults).join(', ')})`);
  }
  const merged = { ...defaults, ...(given ?? {}) } as Record<string, unknown>;
  for (const [key, value] of Object.entries(merged)) {
    const min = zeroAllowed.includes(key) ? 0 : Number.MIN_VALUE;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
      throw new ConfigError(`${where}: "${name}.${key}" must be a ${min === 0 ? 'non-negative' : 'positive'} number, got ${String(value)}`);
    }
    if (integerKeys.includes(key) && !Number.isInteger(value)) {
      throw new ConfigError(`${where}: "${name}.${key}" must be a whole number, got ${String(value)}`);
    }
  }
  return Object.freeze(merged) as Readonly<Required<T>>;
}
