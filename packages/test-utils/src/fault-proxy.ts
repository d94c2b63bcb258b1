import net from 'node:net';

/** What the proxy does with traffic right now. */
export type FaultMode = 'pass' | 'reset' | 'blackhole' | 'slow' | 'refuse';

/** Settings of the `slow` mode; both may be combined. */
export interface SlowLinkOptions {
  /** Added delay for every chunk, each direction (default 0). */
  latencyMs?: number;
  /** Throughput cap per direction in bytes per second (default: none). */
  bytesPerSecond?: number;
}

export interface FaultProxyOptions {
  /** Host to forward to. */
  targetHost: string;
  /** Port to forward to. */
  targetPort: number;
  /** Port to listen on (default 0: any free port on 127.0.0.1). */
  port?: number;
}

interface Direction {
  readonly to: net.Socket;
  readonly queue: Array<{ deliverAt: number; chunk: Buffer }>;
  timer: NodeJS.Timeout | undefined;
  /** When the throttled link is free to carry the next chunk. */
  linkFreeAt: number;
}

interface SocketPair {
  readonly client: net.Socket;
  upstream: net.Socket | undefined;
  toUpstream: Direction | undefined;
  toClient: Direction | undefined;
}

const LISTEN_HOST = '127.0.0.1';

/**
 * A TCP proxy on 127.0.0.1 whose behaviour can be switched at run time to inject network
 * faults between a client and a real server: pass, reset, blackhole, slow and refuse.
 *
 * ```ts
 * const proxy = await FaultProxy.start({ targetHost: '127.0.0.1', targetPort: 5432 });
 * const config = new DatabaseConfig({ database: 'test', host: proxy.host, port: proxy.port });
 * proxy.setMode('blackhole'); // packets vanish, sockets stay open
 * await proxy.close();
 * ```
 */
export class FaultProxy {
  readonly targetHost: string;
  readonly targetPort: number;
  readonly #pairs = new Set<SocketPair>();
  #server: net.Server | undefined;
  #port = 0;
  #mode: FaultMode = 'pass';
  #slow: Required<SlowLinkOptions> = { latencyMs: 0, bytesPerSecond: 0 };
  #accepted = 0;
  #closed = false;

  private constructor(options: FaultProxyOptions) {
    this.targetHost = options.targetHost;
    this.targetPort = options.targetPort;
    this.#port = options.port ?? 0;
  }

  /**
   * Start listening on 127.0.0.1 (a free port unless one is given), in `pass` mode.
   * @throws {Error} when the port cannot be bound.
   */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const proxy = new FaultProxy(options);
    await proxy.#listen();
    return proxy;
  }

  /** The address clients connect to. */
  get host(): string {
    return LISTEN_HOST;
  }

  /** The port clients connect to (stable across `refuse` and back). */
  get port(): number {
    return this.#port;
  }

  /** `host:port`, as used in `DatabaseConfig.hosts`. */
  get address(): string {
    return `${LISTEN_HOST}:${this.#port}`;
  }

  get mode(): FaultMode {
    return this.#mode;
  }

  /** Client connections accepted since start (or since `resetCounters()`). */
  get connectionCount(): number {
    return this.#accepted;
  }

  /** Client connections open right now. */
  get openConnections(): number {
    return this.#pairs.size;
  }

  /** Zero `connectionCount`. */
  resetCounters(): void {
    this.#accepted = 0;
  }

  /**
   * Switch mode. `reset` cuts every open socket pair with an RST and resets new ones at once;
   * `blackhole` drops all data both ways while keeping sockets open; `slow` delays and/or
   * throttles every chunk; `refuse` stops listening (new connects get ECONNREFUSED) and keeps
   * open sockets unless `cutExisting`; `pass` forwards again (and listens again after `refuse`).
   */
  async setMode(mode: 'slow', options: SlowLinkOptions): Promise<void>;
  async setMode(mode: 'refuse', options?: { cutExisting?: boolean }): Promise<void>;
  async setMode(mode: Exclude<FaultMode, 'slow' | 'refuse'>): Promise<void>;
  async setMode(mode: FaultMode, options: SlowLinkOptions & { cutExisting?: boolean } = {}): Promise<void> {
    if (this.#closed) throw new Error('FaultProxy is closed');
    const previous = this.#mode;
    this.#mode = mode;
    if (mode === 'slow') this.#slow = { latencyMs: options.latencyMs ?? 0, bytesPerSecond: options.bytesPerSecond ?? 0 };
    if (mode === 'reset') {
      for (const pair of [...this.#pairs]) this.#resetPair(pair);
    }
    if (mode === 'refuse') {
      await this.#unlisten();
      if (options.cutExisting === true) for (const pair of [...this.#pairs]) this.#resetPair(pair);
    } else if (previous === 'refuse' || this.#server === undefined) {
      await this.#listen();
    }
  }

  /** Stop listening, cut every socket and drop queued data. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const pair of [...this.#pairs]) this.#resetPair(pair);
    await this.#unlisten();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- internals ---------------------------------------------------------------------------

  async #listen(): Promise<void> {
    const server = net.createServer((client) => this.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, LISTEN_HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => undefined);
    this.#port = (server.address() as net.AddressInfo).port;
    this.#server = server;
  }

  async #unlisten(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    // close() stops accepting at once; its callback would wait for open sockets, which we keep.
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      setImmediate(resolve);
    });
  }

  #accept(client: net.Socket): void {
    this.#accepted += 1;
    client.on('error', () => undefined);
    client.setNoDelay(true);
    const pair: SocketPair = { client, upstream: undefined, toUpstream: undefined, toClient: undefined };
    this.#pairs.add(pair);
    client.on('close', () => this.#dropPair(pair));
    if (this.#mode === 'reset') {
      this.#resetPair(pair);
      return;
    }
    if (this.#mode === 'blackhole') {
      // Accepted but never forwarded: the client waits for a server that never speaks.
      client.on('data', () => undefined);
      return;
    }
    const upstream = net.connect({ host: this.targetHost, port: this.targetPort });
    upstream.setNoDelay(true);
    upstream.on('error', () => undefined);
    upstream.on('close', () => {
      if (!client.destroyed) client.destroy();
    });
    pair.upstream = upstream;
    pair.toUpstream = { to: upstream, queue: [], timer: undefined, linkFreeAt: 0 };
    pair.toClient = { to: client, queue: [], timer: undefined, linkFreeAt: 0 };
    client.on('data', (chunk: Buffer) => this.#forward(pair.toUpstream!, chunk));
    upstream.on('data', (chunk: Buffer) => this.#forward(pair.toClient!, chunk));
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  }

  #forward(direction: Direction, chunk: Buffer): void {
    const mode = this.#mode;
    if (mode === 'blackhole' || mode === 'reset') return;
    const now = performance.now();
    if (mode !== 'slow') {
      // Keep order behind data still queued from an earlier slow phase.
      if (direction.queue.length === 0) direction.to.write(chunk);
      else this.#enqueue(direction, now, chunk);
      return;
    }
    const { latencyMs, bytesPerSecond } = this.#slow;
    if (bytesPerSecond <= 0) {
      this.#enqueue(direction, now + latencyMs, chunk);
      return;
    }
    // Cut into ~50 ms slices so a throttled response trickles in instead of arriving in one go.
    const slice = Math.max(1, Math.floor(bytesPerSecond / 20));
    for (let offset = 0; offset < chunk.length; offset += slice) {
      const piece = chunk.subarray(offset, offset + slice);
      const start = Math.max(now, direction.linkFreeAt);
      direction.linkFreeAt = start + (piece.length / bytesPerSecond) * 1000;
      this.#enqueue(direction, direction.linkFreeAt + latencyMs, piece);
    }
  }

  #enqueue(direction: Direction, deliverAt: number, chunk: Buffer): void {
    const last = direction.queue.at(-1);
    direction.queue.push({ deliverAt: Math.max(deliverAt, last?.deliverAt ?? 0), chunk });
    if (direction.timer === undefined) this.#pump(direction);
  }

  #pump(direction: Direction): void {
    direction.timer = undefined;
    const now = performance.now();
    while (direction.queue.length > 0 && direction.queue[0]!.deliverAt <= now) {
      const { chunk } = direction.queue.shift()!;
      // Data queued before a switch to blackhole is dropped too.
      if (this.#mode !== 'blackhole' && !direction.to.destroyed) direction.to.write(chunk);
    }
    const head = direction.queue[0];
    if (head !== undefined) direction.timer = setTimeout(() => this.#pump(direction), Math.max(0, head.deliverAt - now));
  }

  #resetPair(pair: SocketPair): void {
    for (const direction of [pair.toUpstream, pair.toClient]) {
      if (direction === undefined) continue;
      clearTimeout(direction.timer);
      direction.queue.length = 0;
    }
    if (!pair.client.destroyed) pair.client.resetAndDestroy();
    if (pair.upstream !== undefined && !pair.upstream.destroyed) pair.upstream.resetAndDestroy();
    this.#pairs.delete(pair);
  }

  #dropPair(pair: SocketPair): void {
    if (!this.#pairs.has(pair)) return;
    for (const direction of [pair.toUpstream, pair.toClient]) if (direction !== undefined) clearTimeout(direction.timer);
    if (pair.upstream !== undefined && !pair.upstream.destroyed) pair.upstream.destroy();
    this.#pairs.delete(pair);
  }
}
