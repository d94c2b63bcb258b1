export { FaultProxy } from './fault-proxy.js';
export type { FaultMode, FaultProxyOptions, SlowLinkOptions } from './fault-proxy.js';
export {
  DEFAULT_MYSQL_URL,
  DEFAULT_PG_URL,
  killMysqlConnections,
  mysqlUrl,
  postgresUrl,
  postgresVersion,
  startMariadb,
  startPostgres,
  stopMariadb,
  stopPostgres,
  terminatePostgresBackends,
  waitUntilAnswers,
} from './servers.js';
export { createUnroutableAddress, removeStaleUnroutableAddresses } from './unroutable.js';
export type { UnroutableAddress } from './unroutable.js';
export {
  TLS_SERVER_HOST,
  DEFAULT_SERVER_NAMES,
  createTestCertificates,
  freePort,
  startTlsMariadb,
  startTlsPostgres,
} from './tls-servers.js';
export type { PasswordLogin, TestCertificates, TlsServerOptions, TlsTestServer } from './tls-servers.js';
export { TEST_SERVERS, chooseTestServers, describeChoices, detectContainerRuntime, startTestServers } from './containers.js';
export type { ChooseOptions, StartedTestServers, TestServerChoice, TestServerKind, TestServerSpec } from './containers.js';
export { startPgBouncer } from './pgbouncer.js';
export type { PgBouncerOptions, PgBouncerTestServer } from './pgbouncer.js';
export { startMariadbReplicaCluster, startPostgresReplicaCluster } from './replica-clusters.js';
export type { ReplicaCluster, ReplicaNodeAddress } from './replica-clusters.js';
