import type { DatabaseConfig } from '../config/database-config.js';
import type { Driver, DriverConnection } from '../driver/driver.js';
import { ConnectionError } from '../errors/errors.js';
import type { Logger } from '../logger.js';
import { timeoutSignal } from '../timeout-signal.js';
import { probeServer } from './probe.js';

/**
 * Opens connections to the first reachable server of `config.hosts`. When opening a connection
 * to the current one fails (refused, timed out), new connections go to the next. A session that
 * dies while in use says nothing about its host and moves nothing. While on a fallback, the first
 * host is probed in the background every `failbackAfterMs` (open a connection, ping, close), and
 * new connections go back to it once it answers; callers never wait on a host that is still down.
 * With a single host it is a plain `driver.connect`.
 */
export class HostSelector {
  readonly #driver: Driver;
  readonly #configs: readonly DatabaseConfig[];
  readonly #failbackAfterMs: number;
  readonly #logger: Logger;
  /** Each host gets a share of connectionCreationTimeoutMs, so a silent one cannot use it all. */
  readonly #attemptMs: number;
  #current = 0;
  #failbackTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(config: DatabaseConfig, driver: Driver, logger: Logger) {
    this.#driver = driver;
    this.#logger = logger;
    this.#failbackAfterMs = config.failbackAfterMs;
    this.#attemptMs = Math.max(250, config.connectionCreationTimeoutMs / Math.max(1, config.hosts.length));
    this.#configs =
      config.hosts.length <= 1 ? [config] : config.hosts.map((h) => config.with({ host: h.host, ...(h.port === undefined ? {} : { port: h.port }) }));
  }

  /** Address of the host new connections go to. */
  get currentAddress(): { host: string; port: number | undefined } {
    const config = this.#configs[this.#current]!;
    return { host: config.host, port: config.port };
  }

  async connect(signal: AbortSignal): Promise<DriverConnection> {
    if (this.#configs.length === 1) return this.#driver.connect(this.#configs[0]!, { signal });
    let lastError: unknown;
    // Each host at most once per connection attempt, starting with the current one.
    for (let tried = 0; tried < this.#configs.length; tried++) {
      const index = (this.#current + tried) % this.#configs.length;
      const attempt = timeoutSignal(this.#attemptMs, () => new DOMException('host did not answer in time', 'TimeoutError'), signal);
      try {
        const conn = await this.#driver.connect(this.#configs[index]!, { signal: attempt.signal });
        if (index !== this.#current) this.#switchTo(index, 'failover');
        return conn;
      } catch (error) {
        lastError = error;
        if (signal.aborted) throw error;
        // A host that timed out or refused is skipped; bad credentials or SQL are not the host's fault.
        if (!attempt.signal.aborted && !(error instanceof ConnectionError && error.retryable)) throw error;
      } finally {
        attempt.clear();
      }
    }
    throw lastError;
  }

  /** Stop the failback probe (the pool is closing). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#failbackTimer);
    this.#failbackTimer = undefined;
  }

  #switchTo(index: number, why: 'failover' | 'failback'): void {
    const config = this.#configs[index]!;
    this.#logger.warn?.({ alias: config.alias, host: config.host, port: config.port, reason: why }, `[dal] ${why} to another host`);
    this.#current = index;
    clearTimeout(this.#failbackTimer);
    this.#failbackTimer = undefined;
    if (index !== 0) this.#scheduleFailbackProbe();
  }

  #scheduleFailbackProbe(): void {
    if (this.#closed) return;
    this.#failbackTimer = setTimeout(() => void this.#probeFirstHost(), this.#failbackAfterMs);
    this.#failbackTimer.unref();
  }

  async #probeFirstHost(): Promise<void> {
    // Still down: stay on the fallback and look again later.
    const answered = await probeServer((signal) => this.#driver.connect(this.#configs[0]!, { signal }), this.#attemptMs).then(
      () => true,
      () => false,
    );
    if (this.#closed || this.#current === 0) return;
    if (answered) this.#switchTo(0, 'failback');
    else this.#scheduleFailbackProbe();
  }
}
