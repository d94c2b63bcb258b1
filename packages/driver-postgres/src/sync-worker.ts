// The worker thread behind PostgresDriver.connectSync: one pg connection, served to the blocked
// caller by core (see connectSyncThroughWorker). Built as its own entry, dist/sync-worker.js.
import { serveSyncWorker } from '@dal/core';
import { PostgresDriver, type PostgresDriverOptions } from './postgres-driver.js';

serveSyncWorker((options) => new PostgresDriver(options as PostgresDriverOptions));
