export { dalErrorOf } from './dal-error-of.js';
export { dalMysqlProxy, dalPgProxy, dalSqliteBatchProxy, dalSqliteProxy } from './dal-proxy.js';
export type {
  DalProxyOptions,
  DalSource,
  MysqlProxyCallback,
  MysqlResultHeader,
  PgProxyCallback,
  SqliteBatchProxyCallback,
  SqliteProxyAnswer,
  SqliteProxyCallback,
  SqliteProxyMethod,
  SqliteRunResult,
} from './dal-proxy.js';
