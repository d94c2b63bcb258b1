// The worker thread behind MysqlDriver.connectSync: one mysql2 connection (and its KILL QUERY side
// connection), served to the blocked caller by core (see connectSyncThroughWorker). Built as its
// own entry, dist/sync-worker.js.
import { serveSyncWorker } from '@dal/core';
import { MysqlDriver, type MysqlDriverOptions } from './mysql-driver.js';

serveSyncWorker((options) => new MysqlDriver(options as MysqlDriverOptions));
