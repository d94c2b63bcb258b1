/**
 * @dal/conformance: the one behaviour suite every @dal backend passes. A driver's test file
 * supplies a `ConformanceTarget` and calls `describeConformance(target)` inside vitest.
 *
 * ```ts
 * import { describeConformance } from '@dal/conformance';
 * describeConformance({ name: 'oracle', createDatabase: (o) => new OracleDatabase(config.with(o ?? {})), ... });
 * ```
 */
import { describe } from 'vitest';
import { connectSuite } from './suites/connect.js';
import { entryPointsSuite } from './suites/entry-points.js';
import { errorsSuite } from './suites/errors.js';
import { poolSuite } from './suites/pool.js';
import { querySuite } from './suites/query.js';
import { resilienceSuite } from './suites/resilience.js';
import { streamSuite } from './suites/stream.js';
import { syncSuite } from './suites/sync.js';
import { timeoutSuite } from './suites/timeout.js';
import { tlsSuite } from './suites/tls.js';
import { replicaSuite, useReplicaCluster } from './suites/replicas.js';
import { transactionsSuite } from './suites/transactions.js';
import { typesSuite } from './suites/types.js';
import type { ConformanceTarget } from './target.js';
import type { ReplicaTarget } from './suites/replicas.js';

export type { ConformanceTarget, ConformanceTlsTarget, StatementRunner, TlsServerUnderTest } from './target.js';
export type { ReplicaClusterUnderTest, ReplicaTarget } from './suites/replicas.js';
export { replicaSuite, useReplicaCluster, connectSuite, entryPointsSuite, errorsSuite, poolSuite, querySuite, resilienceSuite, streamSuite, syncSuite, timeoutSuite, tlsSuite, transactionsSuite, typesSuite };

/**
 * Every suite, in one `describe` named after the backend. A whole section is skipped when `skip`
 * names its title (e.g. 'sync connection' for a backend without one); its tests then show as skipped.
 */
export function describeConformance(target: ConformanceTarget): void {
  describe(`@dal conformance: ${target.name}`, () => {
    const sections: Array<[string, (target: ConformanceTarget) => void]> = [
      ['connect and bad input', connectSuite],
      ['query', querySuite],
      ['types', typesSuite],
      ['errors', errorsSuite],
      ['transactions', transactionsSuite],
      ['pool', poolSuite],
      ['timeouts and cancellation', timeoutSuite],
      ['circuit breaker', resilienceSuite],
      ['sync connection', syncSuite],
      ['every entry point behaves the same', entryPointsSuite],
      ['streaming results', streamSuite],
    ];
    for (const [title, suite] of sections) {
      const reason = target.skip?.[title];
      if (reason === undefined) suite(target);
      else describe.skip(`[section skipped for ${target.name}: ${reason}]`, () => suite(target));
    }
  });
}


/**
 * The connect section again with every connection over TLS (`target.createDatabase()` connects
 * with tls verify-full to a server that refuses plaintext), plus the TLS checks (`target.tls`).
 */
export function describeTlsConformance(target: ConformanceTarget & { readonly tls: NonNullable<ConformanceTarget['tls']> }): void {
  describe(`@dal conformance over TLS: ${target.name}`, () => {
    connectSuite(target);
    tlsSuite(target);
  });
}

/**
 * Read replicas on a real primary and replica (`target.cluster()`): routing asserted on the
 * server, read-your-writes, lag limits, a stopped replica. The file starts and stops the cluster.
 */
export function describeReplicaConformance(target: ReplicaTarget): void {
  describe(`@dal conformance with read replicas: ${target.name}`, () => replicaSuite(target));
}
