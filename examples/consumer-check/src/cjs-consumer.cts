// The same imports from CommonJS (resolved through each package's "require" condition and .d.cts).
import core = require('@dal/core');
import postgres = require('@dal/driver-postgres');
import mysql = require('@dal/driver-mysql');
import sqlite = require('@dal/driver-sqlite');
import resilience = require('@dal/resilience');
import sqlTranslate = require('@dal/sql-translate');

const config = new core.DatabaseConfig({ database: ':memory:' });
const db: core.Database = new sqlite.SqliteDatabase(config);
const pg: core.Database = new postgres.PostgresDatabase(config);
const my: core.Database = new mysql.MysqlDatabase(config);
const breaker = resilience.circuitBreaker({ name: 'cjs' });
const sql: string = sqlTranslate.translate('SELECT ?', 'mysql', [1]).sql;
export = { db, pg, my, breaker, sql };
