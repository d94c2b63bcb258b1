import { readFile } from 'node:fs/promises';
import { DalError, DatabaseConfig, type DatabaseConfigOptions } from '@dal/core';
import { ShardMapError } from './errors.js';
import { MAX_LOGICAL_SHARDS } from './ids.js';

/** One physical database of the map: a backend and its settings, as a URL and/or options. */
export interface ShardDatabaseSpec {
  /** 'postgres', 'mysql', 'sqlite' or a registered backend; optional when `url` names it. */
  backend?: string;
  /** A connection URL (`DatabaseConfig.fromUrl`); `config` entries override its settings. */
  url?: string;
  /** `DatabaseConfig` options (`database` is needed without a url); `alias` defaults to the database's name in the map. */
  config?: Partial<DatabaseConfigOptions>;
}

/**
 * The JSON form of a shard map, what is stored in a file or a table and handed to every process.
 *
 * ```json
 * { "version": 1, "logicalShards": 64, "router": "fnv1a64",
 *   "databases": { "db0": { "url": "postgres://app@10.0.0.1/app" }, "db1": { "url": "postgres://app@10.0.0.2/app" } },
 *   "shards": { "0-31": "db0", "32-63": "db1" } }
 * ```
 */
export interface ShardMapJSON {
  /** Positive integer; every change to the map gives a higher one. */
  version: number;
  /** Number of logical shards, 1..8192; fixed for the life of the data (keys route by it). */
  logicalShards: number;
  /** The router the data was placed with; informative ('fnv1a64' unless the app routes otherwise). */
  router?: string;
  databases: Record<string, ShardDatabaseSpec>;
  /** Logical shards ("7" or a range "0-15") -> database name. Every shard exactly once. */
  shards: Record<string, string>;
}

interface PhysicalDatabase {
  readonly spec: ShardDatabaseSpec;
  readonly backend: string;
  readonly config: DatabaseConfig;
}

/**
 * A versioned, immutable assignment of N logical shards to physical databases. Changes make a new
 * map with a higher version (`withShardOn`), so two processes holding the same version route alike.
 */
export class ShardMap {
  readonly version: number;
  readonly logicalShards: number;
  readonly router: string;
  readonly #databases: ReadonlyMap<string, PhysicalDatabase>;
  /** Database name of each logical shard, by shard number. */
  readonly #assignment: readonly string[];

  private constructor(version: number, logicalShards: number, router: string, databases: ReadonlyMap<string, PhysicalDatabase>, assignment: readonly string[]) {
    this.version = version;
    this.logicalShards = logicalShards;
    this.router = router;
    this.#databases = databases;
    this.#assignment = assignment;
  }

  /**
   * Build and check a map from its JSON form (an object, or the text of one).
   * @throws {ShardMapError} when a shard is missing, assigned twice or to an unknown database, when
   *   two names point at the same database, or when a database's settings are invalid.
   */
  static fromJSON(json: ShardMapJSON | string): ShardMap {
    let data: ShardMapJSON;
    try {
      data = typeof json === 'string' ? (JSON.parse(json) as ShardMapJSON) : json;
    } catch (error) {
      throw new ShardMapError(`the shard map is not valid JSON: ${(error as Error).message}`, { cause: error });
    }
    if (typeof data !== 'object' || data === null) throw new ShardMapError('a shard map must be an object');
    const { version, logicalShards } = data;
    if (!Number.isSafeInteger(version) || version < 1) throw new ShardMapError(`shard map version must be a positive integer (got ${String(version)})`);
    if (!Number.isInteger(logicalShards) || logicalShards < 1 || logicalShards > MAX_LOGICAL_SHARDS) {
      throw new ShardMapError(`logicalShards must be an integer from 1 to ${MAX_LOGICAL_SHARDS} (got ${String(logicalShards)})`);
    }
    const databases = new Map<string, PhysicalDatabase>();
    const byLocation = new Map<string, string>();
    for (const [name, spec] of Object.entries(data.databases ?? {})) {
      const physical = physicalDatabase(name, spec);
      // Two names for one database would let a move copy a shard onto itself and then delete it.
      const { host, port, database } = physical.config;
      const where = `${physical.backend}|${physical.backend === 'sqlite' ? '' : `${host}:${String(port)}`}|${database}`;
      const same = byLocation.get(where);
      if (same !== undefined) throw new ShardMapError(`shard map databases "${same}" and "${name}" are the same database; give each physical database one name`);
      byLocation.set(where, name);
      databases.set(name, physical);
    }
    const assignment = new Array<string | undefined>(logicalShards).fill(undefined);
    for (const [range, name] of Object.entries(data.shards ?? {})) {
      if (!databases.has(name)) throw new ShardMapError(`shards "${range}" are assigned to "${String(name)}", which is not in the map's databases`);
      const [first, last] = parseRange(range, logicalShards);
      for (let shard = first; shard <= last; shard++) {
        if (assignment[shard] !== undefined) throw new ShardMapError(`logical shard ${shard} is assigned twice ("${assignment[shard]}" and "${name}")`);
        assignment[shard] = name;
      }
    }
    const missing = assignment.findIndex((name) => name === undefined);
    if (missing >= 0) throw new ShardMapError(`logical shard ${missing} is not assigned to any database`);
    return new ShardMap(version, logicalShards, data.router ?? 'fnv1a64', databases, assignment as string[]);
  }

  /** Read a map from a JSON file. */
  static async load(path: string): Promise<ShardMap> {
    return ShardMap.fromJSON(await readFile(path, 'utf8'));
  }

  /** The database name holding a logical shard. @throws {ShardMapError} for a shard outside the map. */
  databaseOf(shard: number): string {
    this.#checkShard(shard);
    return this.#assignment[shard]!;
  }

  /** Logical shards on a database, ascending (empty for a database that holds none). */
  shardsOf(database: string): number[] {
    const shards: number[] = [];
    this.#assignment.forEach((name, shard) => {
      if (name === database) shards.push(shard);
    });
    return shards;
  }

  /** Every database name of the map, in the map's order (including ones that hold no shard yet). */
  databaseNames(): string[] {
    return [...this.#databases.keys()];
  }

  hasDatabase(name: string): boolean {
    return this.#databases.has(name);
  }

  /** Backend and `DatabaseConfig` of a database (alias = its name in the map unless set). */
  physical(name: string): { backend: string; config: DatabaseConfig } {
    const physical = this.#databases.get(name);
    if (physical === undefined) throw new ShardMapError(`"${name}" is not a database of shard map version ${this.version}`);
    return physical;
  }

  /**
   * A new map, one version higher, with `shard` on `database`; give `spec` to add a database the
   * map does not have yet.
   */
  withShardOn(shard: number, database: string, spec?: ShardDatabaseSpec): ShardMap {
    this.#checkShard(shard);
    const json = this.toJSON();
    if (spec !== undefined) {
      if (this.#databases.has(database)) throw new ShardMapError(`"${database}" is already a database of the map; pass its name alone`);
      json.databases[database] = spec;
    } else if (!this.#databases.has(database)) {
      throw new ShardMapError(`"${database}" is not a database of the map; pass its settings to add it`);
    }
    const assignment = [...this.#assignment];
    assignment[shard] = database;
    return ShardMap.fromJSON({ ...json, version: this.version + 1, shards: compressRanges(assignment) });
  }

  /** The JSON form, with consecutive shards of one database written as ranges ("0-15"). */
  toJSON(): ShardMapJSON {
    const databases: Record<string, ShardDatabaseSpec> = {};
    for (const [name, physical] of this.#databases) databases[name] = physical.spec;
    return { version: this.version, logicalShards: this.logicalShards, router: this.router, databases, shards: compressRanges(this.#assignment) };
  }

  /** Same version and same content: what two processes must agree on to route alike. */
  sameAs(other: ShardMap): boolean {
    return JSON.stringify(this.toJSON()) === JSON.stringify(other.toJSON());
  }

  #checkShard(shard: number): void {
    if (!Number.isInteger(shard) || shard < 0 || shard >= this.logicalShards) {
      throw new ShardMapError(`logical shard ${String(shard)} is outside the map (0..${this.logicalShards - 1})`);
    }
  }
}

function physicalDatabase(name: string, spec: ShardDatabaseSpec): PhysicalDatabase {
  if (typeof spec !== 'object' || spec === null || (spec.url === undefined && spec.config === undefined)) {
    throw new ShardMapError(`shard map database "${name}" needs a "url" or a "config"`);
  }
  let config: DatabaseConfig;
  try {
    const overrides = { alias: name, ...spec.config };
    config = spec.url !== undefined ? DatabaseConfig.fromUrl(spec.url, overrides) : new DatabaseConfig(overrides as DatabaseConfigOptions);
  } catch (error) {
    if (!DalError.isInstance(error)) throw error;
    throw new ShardMapError(`shard map database "${name}": ${error.message}`, { cause: error });
  }
  const backend = spec.backend ?? config.backend;
  if (backend === undefined) throw new ShardMapError(`shard map database "${name}" needs a "backend" (or a url that names one)`);
  return { spec, backend, config };
}

function parseRange(range: string, logicalShards: number): [number, number] {
  const match = /^(\d+)(?:-(\d+))?$/.exec(range);
  const first = match === null ? NaN : Number(match[1]);
  const last = match === null ? NaN : Number(match[2] ?? match[1]);
  if (!(first <= last) || last >= logicalShards) {
    throw new ShardMapError(`"${range}" is not a shard or a range of shards within 0..${logicalShards - 1} (write "7" or "0-15")`);
  }
  return [first, last];
}

function compressRanges(assignment: readonly string[]): Record<string, string> {
  const shards: Record<string, string> = {};
  let start = 0;
  for (let shard = 1; shard <= assignment.length; shard++) {
    if (shard < assignment.length && assignment[shard] === assignment[start]) continue;
    shards[start === shard - 1 ? String(start) : `${start}-${shard - 1}`] = assignment[start]!;
    start = shard;
  }
  return shards;
}
