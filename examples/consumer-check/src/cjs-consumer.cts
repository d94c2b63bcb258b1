// The same imports from CommonJS (resolved through each package's "require" condition and .d.cts).
import core = require('@dal/core');
import postgres = require('@dal/driver-postgres');
import mysql = require('@dal/driver-mysql');
import sqlite = require('@dal/driver-sqlite');
import resilience = require('@dal/resilience');
import sqlTranslate = require('@dal/sql-translate');
import entities = require('@dal/entities');
import metrics = require('@dal/metrics');
import sharding = require('@dal/sharding');

const config = new core.DatabaseConfig({ database: ':memory:' });
const db: core.Database = new sqlite.SqliteDatabase(config);
const pg: core.Database = new postgres.PostgresDatabase(config);
const my: core.Database = new mysql.MysqlDatabase(config);
const breaker = resilience.circuitBreaker({ name: 'cjs' });
const sql: string = sqlTranslate.translate('SELECT ?', 'mysql', [1]).sql;
const saved = db.withConnection((conn) => entities.saveEntity(conn, 'user', { name: 'Phil' }));
const exposition: Promise<string> = metrics.prometheusText();
const hash: bigint = sharding.fnv1a64('tenant-1');
export = { db, pg, my, breaker, sql, saved, exposition, hash };
