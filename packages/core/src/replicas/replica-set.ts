import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { DalError } from '@dal/resilience';
import type { DatabaseConfig, HostAddress } from '../config/database-config.js';
import type { DriverConnection, ReplicationSql } from '../driver/driver.js';
import { ConfigError, ConnectionError } from '../errors/errors.js';
import { timeoutSignal } from '../timeout-signal.js';
import type { PoolRuntime } from '../pool/pool-runtime.js';
import type { Lease } from '../pool/pool.js';
import { LagClock } from './lag-clock.js';
import { nativeRowOn, replicationOn } from './native-row.js';

/** Every caller waiting on the writer listens to its signal: more than the default 10 is normal, not a leak. */
function unboundedController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(Number.POSITIVE_INFINITY, controller.signal);
  return controller;
}

function positionIn(row: Record<string, unknown> | undefined): string | undefined {
  const value = row?.['position'];
  return value === null || value === undefined ? undefined : String(value);
}

/** What `PoolManager.getPoolStatus(hash).nodes` says about one server of a replica set. */
export interface ReplicaNodeStatus {
  host: string;
  port: number | undefined;
  /** What the server said it is at the last check ('unknown' until it answered once). */
  role: 'primary' | 'replica' | 'unknown';
  /** Answered the last check (a node that did not is ejected from reads until it does). */
  healthy: boolean;
  /** True for the node writes go to now. */
  writer: boolean;
  /** How long ago the primary was first seen past what it replayed (0 when caught up; undefined before a check and on the writer). */
  lagMs: number | undefined;
  /** WAL bytes behind the primary (PostgreSQL). */
  lagBytes: number | undefined;
  /** Transactions behind the primary (MariaDB/MySQL GTIDs). */
  lagTransactions: number | undefined;
  /** Statements and connections `db.replica()` handed to this node. */
  reads: number;
}

/** Opens and closes the pool of one node through PoolManager (so it gets its own breaker and probe). */
export interface NodePools {
  open(config: DatabaseConfig): Promise<PoolRuntime>;
  close(config: DatabaseConfig): Promise<void>;
}

/** Longest a health check waits for a node to answer. */
const CHECK_TIMEOUT_MS = 5_000;

/** One server of the set: its pool, and what the last check learnt about it. */
export class ReplicaNode {
  runtime: PoolRuntime | undefined;
  role: ReplicaNodeStatus['role'] = 'unknown';
  healthy = false;
  /** Its position at the last check (primary: written; replica: replayed). */
  position: string | undefined;
  lagMs: number | undefined;
  lagBytes: number | undefined;
  lagTransactions: number | undefined;
  reads = 0;
  #checking: Promise<void> | undefined;
  /**
   * The connection checks run on, outside the pool: a pool whose connections are all taken (or
   * stuck on a dead server) must not decide whether the server answers.
   */
  #monitor: DriverConnection | undefined;
  #closed = false;

  constructor(readonly config: DatabaseConfig) {}

  /**
   * The first row of the statement `sqlOn` gives for the monitor connection (opened through the
   * pool's gate, so through its breaker and host failover), all within `timeoutMs`.
   * @throws why the server did not answer; the monitor connection is then dropped.
   */
  async readState(runtime: PoolRuntime, sqlOn: (conn: DriverConnection) => Promise<string>, timeoutMs: number): Promise<Record<string, unknown> | undefined> {
    const deadline = timeoutSignal(timeoutMs, () => new ConnectionError(`${this.config.alias}: no answer to the replica check within ${timeoutMs} ms`));
    const gaveUp = new Promise<never>((_, reject) => deadline.signal.addEventListener('abort', () => reject(deadline.signal.reason), { once: true }));
    gaveUp.catch(() => undefined);
    try {
      if (this.#monitor === undefined || this.#monitor.broken) {
        this.#monitor?.destroy();
        this.#monitor = undefined;
        const opened = await runtime.gate.open(deadline.signal);
        if (this.#closed) {
          opened.destroy();
          throw new ConnectionError(`${this.config.alias}: the replica set was closed`);
        }
        this.#monitor = opened;
      }
      const monitor = this.#monitor;
      const result = await Promise.race([sqlOn(monitor).then((sql) => monitor.execute<Record<string, unknown>>(sql, [], { rowMode: 'object', timeoutMs })), gaveUp]);
      return result.rows[0];
    } catch (error) {
      this.#monitor?.destroy();
      this.#monitor = undefined;
      throw error;
    } finally {
      deadline.clear();
    }
  }

  closeMonitor(): void {
    this.#closed = true;
    const monitor = this.#monitor;
    this.#monitor = undefined;
    if (monitor !== undefined) void monitor.close().catch(() => monitor.destroy());
  }

  get address(): HostAddress & { port: number | undefined } {
    return { host: this.config.host, port: this.config.port };
  }

  /** Run `check` unless one is still running (a node that does not answer must not pile them up). */
  checkOnce(check: () => Promise<void>): Promise<void> {
    this.#checking ??= check().finally(() => (this.#checking = undefined));
    return this.#checking;
  }
}

/**
 * The servers of one config with `replicas`: the configured primary (the config's own pool, with
 * failover across `hosts`) and each replica (a pool of its own). Every `replicaRecheckMs` each
 * node is asked for its role and position; a node that does not answer is ejected from reads
 * until it does (its pool's breaker probes it meanwhile). Writes go to the node that last said it
 * is the primary, so after a promotion they move within one recheck; a write refused by a
 * read-only node asks again at once.
 */
export class ReplicaSet {
  readonly nodes: readonly ReplicaNode[];
  /** Resolves once every node answered (or failed) its first check. */
  readonly ready: Promise<void>;
  readonly #config: DatabaseConfig;
  /** The dialect's replication SQL; `#replication` is its flavour for these servers. */
  readonly #dialectReplication: ReplicationSql;
  #replication: ReplicationSql;
  readonly #pools: NodePools;
  readonly #lag = new LagClock();
  #writer: ReplicaNode;
  /** Aborted when writes move to another node, so callers waiting on the old one's pool move too. */
  #writerMoved = unboundedController();
  #timer: NodeJS.Timeout | undefined;
  #next = 0;
  #closed = false;

  constructor(primary: PoolRuntime, pools: NodePools) {
    const { config } = primary;
    // PoolManager accepts a config with replicas only for a dialect that has this.
    this.#dialectReplication = this.#replication = primary.dialect.replication!;
    this.#config = config;
    this.#pools = pools;
    const first = new ReplicaNode(config);
    first.runtime = primary;
    first.role = 'primary';
    first.healthy = true;
    this.nodes = [
      first,
      ...config.replicas.map(
        (address) =>
          new ReplicaNode(config.with({ host: address.host, ...(address.port === undefined ? {} : { port: address.port }), replicas: [], alias: `${config.alias}@${address.host}:${address.port ?? 'default'}` })),
      ),
    ];
    this.#writer = first;
    primary.watchReadOnlyWrites(() => void this.rediscover());
    // The first replica read waits for the first check, but not for a replica that does not answer.
    this.ready = Promise.race([this.#checkAll(), delay(CHECK_TIMEOUT_MS, undefined, { ref: false })]);
    this.#timer = setInterval(() => void this.#checkAll(), config.replicaRecheckMs);
    this.#timer.unref();
  }

  /** The replication SQL of these servers' flavour (the dialect's own until a server answered a check). */
  get replication(): ReplicationSql {
    return this.#replication;
  }

  /** The pool writes (and everything not asked of `db.replica()`) go to now. */
  get writer(): PoolRuntime {
    return this.#writer.runtime!;
  }

  get writerNode(): ReplicaNode {
    return this.#writer;
  }

  /**
   * A connection of the writer for a caller of the primary's API. A caller still waiting when
   * writes move (the old primary is gone and a replica was promoted) waits on the new one instead.
   */
  async acquireWriter(signal: AbortSignal | undefined): Promise<{ runtime: PoolRuntime; lease: Lease }> {
    for (;;) {
      const runtime = this.writer;
      const moved = this.#writerMoved.signal;
      try {
        return { runtime, lease: await runtime.acquire(signal === undefined ? moved : AbortSignal.any([signal, moved])) };
      } catch (error) {
        if (!moved.aborted || signal?.aborted === true) throw error;
      }
    }
  }

  /** Check every node now (a write was refused as read-only: the primary may have moved). */
  rediscover(): Promise<void> {
    return this.#checkAll();
  }

  /**
   * The replicas a read may use now, best first: healthy, reporting the replica role, within
   * the lag limits, not `excluded`; taken in turn so reads spread over them.
   */
  readable(excluded?: ReplicaNode): ReplicaNode[] {
    const { maxLagMs, maxLagBytes } = this.#config;
    const usable = this.nodes.filter(
      (node) =>
        node !== this.#writer &&
        node !== excluded &&
        node.healthy &&
        node.role === 'replica' &&
        node.runtime !== undefined &&
        !node.runtime.pool.closed &&
        // Its breaker is open: it cannot be reached now, and a read would wait for the probe.
        node.runtime.breaker?.state !== 'open' &&
        (maxLagMs === undefined || (node.lagMs !== undefined && node.lagMs <= maxLagMs)) &&
        (maxLagBytes === undefined || node.lagBytes === undefined || node.lagBytes <= maxLagBytes),
    );
    if (usable.length < 2) return usable;
    const start = this.#next++ % usable.length;
    return [...usable.slice(start), ...usable.slice(0, start)];
  }

  /** Where reads go when no replica is usable: the writer, or an error when the config says so. */
  fallback(why: string): ReplicaNode {
    if (this.#config.replicaFallback === 'error') {
      throw new ConnectionError(`${this.#config.alias}: no replica can take this read (${why}) and replicaFallback is 'error'`);
    }
    return this.#writer;
  }

  /** A read on `node` failed because the node could not be reached: eject it until a check says otherwise. */
  eject(node: ReplicaNode): void {
    if (node === this.#writer) return;
    node.healthy = false;
    void node.checkOnce(() => this.#check(node));
  }

  /**
   * True when `position` (from the node's last check or a fresh query) covers the commit `token`.
   * @throws {ConfigError} when `token` is not a commit token of this backend.
   */
  reached(token: string, position: string | undefined): boolean {
    if (position === undefined) return false;
    let distance: { bytes?: number; transactions?: number };
    try {
      distance = this.replication.behind(token, position);
    } catch (cause) {
      throw new ConfigError(`${this.#config.alias}: "${token}" is not a commit token of this database (from db.commitToken())`, { cause });
    }
    return (distance.bytes ?? 0) === 0 && (distance.transactions ?? 0) === 0;
  }

  /** The node's current position, read on a lease of its pool. */
  async positionOn(runtime: PoolRuntime, lease: Lease, timeoutMs: number): Promise<string | undefined> {
    return positionIn(await nativeRowOn(runtime, lease, this.replication.stateSql, [], timeoutMs));
  }

  isRecoveryConflict(error: DalError): boolean {
    return this.replication.isRecoveryConflict?.(error) === true;
  }

  statuses(): ReplicaNodeStatus[] {
    return this.nodes.map((node) => ({
      ...node.address,
      role: node.role,
      healthy: node.healthy,
      writer: node === this.#writer,
      lagMs: node.lagMs,
      lagBytes: node.lagBytes,
      lagTransactions: node.lagTransactions,
      reads: node.reads,
    }));
  }

  /** Stop checking and close the replicas' pools (the primary's is closed by its owner). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const node of this.nodes) node.closeMonitor();
    await Promise.all(this.nodes.slice(1).map((node) => this.#pools.close(node.config).catch(() => undefined)));
  }

  #checkAll(): Promise<void> {
    return Promise.all(this.nodes.map((node) => node.checkOnce(() => this.#check(node)))).then(() => undefined);
  }

  /** Ask one node for its role and position; then decide where writes go and how far behind each replica is. */
  async #check(node: ReplicaNode): Promise<void> {
    if (this.#closed) return;
    try {
      if (node.runtime === undefined) {
        node.runtime = await this.#pools.open(node.config);
        node.runtime.watchReadOnlyWrites(() => void this.rediscover());
      }
      const { runtime } = node;
      // Its breaker is open: nobody may dial it now, and waiting for the probe would stall this check.
      if (runtime.gate.unavailableError(0) !== undefined) throw runtime.gate.unavailableError(0);
      const row = await node.readState(runtime, (conn) => this.#stateSqlOn(conn), Math.min(CHECK_TIMEOUT_MS, this.#config.replicaRecheckMs * 2));
      const replica = row?.['replica'];
      node.role = replica === true || replica === 't' || Number(replica) === 1 ? 'replica' : 'primary';
      node.position = positionIn(row);
      node.healthy = true;
    } catch {
      node.healthy = false;
    }
    if (this.#closed) return;
    this.#chooseWriter();
    this.#measureLag(node);
  }

  /** The state statement for the server `conn` is on; its flavour is the set's from then on. */
  async #stateSqlOn(conn: DriverConnection): Promise<string> {
    this.#replication = await replicationOn(this.#dialectReplication, conn);
    return this.#replication.stateSql;
  }

  /** Keep the writer while it says it is the primary; else the first healthy node that does. */
  #chooseWriter(): void {
    const current = this.#writer;
    if (current.healthy && current.role === 'primary') return;
    const promoted = this.nodes.find((node) => node !== current && node.healthy && node.role === 'primary' && node.runtime !== undefined);
    if (promoted === undefined) return;
    this.#writer = promoted;
    const moved = this.#writerMoved;
    this.#writerMoved = unboundedController();
    moved.abort();
    promoted.runtime!.logger.warn?.({ alias: this.#config.alias, host: promoted.config.host, port: promoted.config.port }, '[dal] writes move to the new primary');
  }

  #measureLag(node: ReplicaNode): void {
    const writer = this.#writer;
    if (node === writer) {
      node.lagMs = node.lagBytes = node.lagTransactions = undefined;
      if (!node.healthy || node.position === undefined) return;
      this.#lag.primaryAt(node.position);
      for (const other of this.nodes) if (other !== writer) this.#measureLag(other);
      return;
    }
    const target = writer.position;
    if (!node.healthy || node.role !== 'replica' || node.position === undefined || target === undefined) {
      node.lagMs = node.lagBytes = node.lagTransactions = undefined;
      return;
    }
    try {
      const distance = this.replication.behind(target, node.position);
      node.lagBytes = distance.bytes;
      node.lagTransactions = distance.transactions;
      node.lagMs = this.#lag.lagMs(node.position, (target, replayed) => this.reached(target, replayed));
    } catch {
      node.lagMs = node.lagBytes = node.lagTransactions = undefined;
    }
  }
}
