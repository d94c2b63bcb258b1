/**
 * Shapes shared by the backends and the scenarios (JSDoc only; this module exports nothing at run time).
 *
 * @typedef {object} Options
 * @property {boolean} quick          tiny counts, one round (the CI smoke test)
 * @property {number} rounds          interleaved rounds of the throughput and bulk scenarios
 * @property {number} durationMs      measured time per contender, scenario and round
 * @property {number} warmupMs        unmeasured time before each measurement
 * @property {number} pointRows       rows in the point-select table
 * @property {number} bulkRows        rows of the one-transaction bulk insert
 * @property {number} entityRows      entities saved per round
 * @property {number} entityRounds    rounds of the entities scenario
 * @property {number} slowQueryMs     duration of the statement in the timeout scenario
 * @property {number} queryTimeoutMs  the caller's timeout in the timeout scenario
 * @property {number} timeoutRounds   runs per contender of the timeout scenario
 * @property {number} saturationRounds runs per contender of the saturation scenario
 * @property {string} pgUrl
 * @property {string} mysqlUrl
 * @property {string} sqliteDir       directory of the SQLite files
 * @property {RegExp} [only]          throughput and bulk scenarios: only the raw baseline and the contenders whose name matches
 *
 * @typedef {object} Handle  one opened contender; a scenario runs when its operation is present
 * @property {(id: number) => unknown} [pointSelect]  resolves to the row with that primary key
 * @property {(k: number) => unknown} [insert]        one single-row insert
 * @property {(rows: ReadonlyArray<readonly [number, string]>) => unknown} [bulkInsert] all rows in one transaction
 * @property {() => Promise<void>} close
 *
 * @typedef {object} Contender
 * @property {string} name
 * @property {boolean} [baseline]  the raw driver: ratios are to it
 * @property {() => Promise<Handle>} open
 *
 * @typedef {object} PoolLease
 * @property {() => Promise<unknown>} hold     occupy the connection for 50 ms
 * @property {() => unknown} release
 *
 * @typedef {object} SaturationHandle
 * @property {() => Promise<PoolLease>} acquire
 * @property {() => Promise<void>} close
 *
 * @typedef {object} SaturationContender
 * @property {string} name
 * @property {string} [note]
 * @property {boolean} [noAcquireTimeout]  the pool has no acquisition timeout option
 * @property {(poolSize: number, acquireTimeoutMs: number, holdMs: number) => Promise<SaturationHandle>} open
 *
 * @typedef {object} TimeoutHandle
 * @property {(marker: string) => Promise<unknown>} run   the slow statement under the caller's timeout
 * @property {() => Promise<void>} close
 *
 * @typedef {object} TimeoutContender
 * @property {string} name
 * @property {string} [note]
 * @property {(opts: Options) => Promise<TimeoutHandle>} open
 *
 * @typedef {object} EntitiesBackend
 * @property {{ name: string, open: () => Promise<import('@dal/core').Database> }[]} dal  the variants of this layer that save through saveEntities
 * @property {() => Promise<{ insertBatched: (rows: StoredEntity[]) => Promise<void>, close: () => Promise<void> }>} openRaw
 * @property {() => Promise<void>} dropTables
 * @property {(table: string) => Promise<number>} count
 *
 * @typedef {{ main: Record<string, unknown>, history: Record<string, unknown> }} StoredEntity  one entity as stored, with its first history row
 *
 * @typedef {object} Backend
 * @property {string} name
 * @property {string} poolNote             pool sizes used, for the report
 * @property {() => Promise<string>} serverVersion
 * @property {() => Promise<void>} setup    create and fill the tables
 * @property {() => Promise<void>} teardown drop the tables, close admin connections
 * @property {(table: string) => Promise<void>} truncate
 * @property {(table: string) => Promise<number>} count
 * @property {Contender[]} contenders
 * @property {SaturationContender[]} saturation
 * @property {TimeoutContender[]} timeout
 * @property {(marker: string) => Promise<boolean>} isRunning  is the slow statement still running on the server
 * @property {EntitiesBackend} entities
 */

export {};
