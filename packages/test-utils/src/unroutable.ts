import { execFileSync } from 'node:child_process';

/** An address whose SYNs are never answered, valid until `close()`. */
export interface UnroutableAddress {
  /** IPv4 address that swallows every packet sent to it. */
  readonly address: string;
  /** Network namespace holding the far end of the veth pair. */
  readonly namespace: string;
  /** Remove the veth pair, the neighbour entry and the namespace. Safe to call twice. */
  close(): void;
}

// 198.18.0.0/15 is reserved for network benchmarking (RFC 2544): never a real peer here.
const BENCH_PREFIX = '198.18';
const NAMESPACE_PREFIX = 'dalunr';
const UNOWNED_MAC = '02:00:00:00:da:1d';

let sequence = 0;

function ip(args: readonly string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

function quietly(args: readonly string[]): void {
  try {
    ip(args);
  } catch {
    // Already gone.
  }
}

/**
 * Build an address where connection attempts hang: a network namespace joined to the host by a
 * veth pair, with a permanent neighbour entry for a third address pointing at a MAC nobody
 * owns, so SYNs leave the host side and vanish (no RST, no ICMP). Traffic never leaves the
 * veth pair. Needs root and iproute2; always `close()` it (an exit hook does as a last resort).
 *
 * ```ts
 * const unroutable = createUnroutableAddress();
 * try {
 *   const config = new DatabaseConfig({ database: 'test', host: unroutable.address, connectionCreationTimeoutMs: 1_000 });
 * } finally {
 *   unroutable.close();
 * }
 * ```
 * @throws {Error} when namespaces cannot be created (not root, no `ip`, no netns support).
 */
export function createUnroutableAddress(): UnroutableAddress {
  removeStaleUnroutableAddresses();
  const foreign = ip(['-4', '-o', 'addr', 'show'])
    .split('\n')
    .filter((line) => line.includes(` ${BENCH_PREFIX}.`) && !/^\d+: dun/.test(line));
  if (foreign.length > 0) throw new Error(`${BENCH_PREFIX}.0.0/15 is already used on this host; refusing to shadow it`);
  let lastError: unknown;
  for (let attempt = 0; attempt < 8; attempt += 1) {
    sequence += 1;
    const id = `${process.pid}x${sequence}`;
    const namespace = `${NAMESPACE_PREFIX}-${id}`;
    // Interface names are limited to 15 characters.
    const hostSide = `dun${(process.pid % 100_000).toString(36)}${sequence.toString(36)}`.slice(0, 15);
    const farSide = `${hostSide}p`.slice(0, 15);
    const octet = (process.pid + sequence * 37) % 250;
    const base = `${BENCH_PREFIX}.${octet}`;
    const address = `${base}.3`;
    let done = false;
    const close = (): void => {
      if (done) return;
      done = true;
      process.off('exit', close);
      quietly(['neigh', 'del', address, 'dev', hostSide]);
      quietly(['link', 'del', hostSide]);
      quietly(['netns', 'del', namespace]);
    };
    process.on('exit', close);
    try {
      ip(['netns', 'add', namespace]);
      ip(['link', 'add', hostSide, 'type', 'veth', 'peer', 'name', farSide]);
      ip(['link', 'set', farSide, 'netns', namespace]);
      ip(['addr', 'add', `${base}.1/29`, 'dev', hostSide]);
      ip(['link', 'set', hostSide, 'up']);
      ip(['-n', namespace, 'addr', 'add', `${base}.2/29`, 'dev', farSide]);
      ip(['-n', namespace, 'link', 'set', farSide, 'up']);
      ip(['neigh', 'replace', address, 'lladdr', UNOWNED_MAC, 'nud', 'permanent', 'dev', hostSide]);
      const route = ip(['route', 'get', address]);
      if (!route.includes(`dev ${hostSide}`)) throw new Error(`${address} is not routed through ${hostSide}`);
      return { address, namespace, close };
    } catch (error) {
      lastError = error;
      close();
    }
  }
  throw new Error(`could not build an unroutable address: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
}

/** Remove namespaces (and their veth pairs) left by processes that died before cleaning up. */
export function removeStaleUnroutableAddresses(): void {
  const names = ip(['netns', 'list'])
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(`${NAMESPACE_PREFIX}-`));
  for (const name of names) {
    const pid = Number(/^[a-z]+-(\d+)x/.exec(name)?.[1]);
    if (Number.isInteger(pid) && (pid === process.pid || processAlive(pid))) continue;
    // Deleting the namespace deletes the far veth end, which takes the host end with it.
    quietly(['netns', 'del', name]);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
