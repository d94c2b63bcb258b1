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
