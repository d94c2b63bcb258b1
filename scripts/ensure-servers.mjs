#!/usr/bin/env node
// Make sure the PostgreSQL and MariaDB/MySQL servers the tests use answer a real query,
// starting this machine's local servers when they are down, and that Chromium is there for
// the dashboard test and PgBouncer for the pooler test. Fails (exit 1) when something is missing: the suite never skips.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const pg = createRequire(join(root, 'packages/driver-postgres/package.json'))('pg');
const mysql = createRequire(join(root, 'packages/driver-mysql/package.json'))('mysql2/promise');

const PG_URL = process.env.DAL_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_URL = process.env.DAL_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

async function pgAnswers() {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch (error) {
    // The server is up but the database is missing: create it from the maintenance database.
    if (error.code === '3D000') return createPgDatabase();
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function createPgDatabase() {
  const url = new URL(PG_URL);
  const name = url.pathname.slice(1);
  url.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: url.href, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
    console.log(`created PostgreSQL database ${name}`);
    return true;
  } catch {
    return false;
  } finally {
    await admin.end().catch(() => {});
  }
}

async function mysqlAnswers() {
  const url = new URL(MYSQL_URL);
  const name = decodeURIComponent(url.pathname.slice(1));
  let conn;
  try {
    conn = await mysql.createConnection({
      host: url.hostname,
      port: Number(url.port || 3306),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      connectTimeout: 3000,
    });
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${name.replaceAll('`', '``')}\``);
    await conn.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await conn?.end().catch(() => {});
  }
}

function sh(command, args, timeoutMs = 60_000) {
  console.log(`$ ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit', timeout: timeoutMs });
  return result.status === 0;
}

function startPostgres() {
  if (existsSync('/etc/postgresql')) {
    for (const version of readdirSync('/etc/postgresql')) {
      sh('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start']);
    }
  }
}

function startMariadb() {
  if (!sh('service', ['mariadb', 'start']) && existsSync('/usr/sbin/mariadbd')) {
    sh('start-stop-daemon', ['--start', '--oknodo', '--background', '--exec', '/usr/sbin/mariadbd']);
  }
}

async function ensure(name, answers, start, url) {
  if (await answers()) {
    console.log(`✓ ${name} answers at ${redact(url)}`);
    return true;
  }
  console.log(`${name} does not answer at ${redact(url)}; starting the local server`);
  start();
  // A start can fail silently: only a real query counts.
  for (let i = 0; i < 30; i++) {
    if (await answers()) {
      console.log(`✓ ${name} answers at ${redact(url)}`);
      return true;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  console.error(`✗ ${name} is not reachable at ${redact(url)}. Start it (see README: "Running the tests"), or set the URL variable.`);
  return false;
}

function redact(url) {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

/**
 * A program some tests run, from its Debian package: installed where apt can (as root),
 * elsewhere the message says how. Never a download from anywhere else.
 */
function ensureDebianProgram({ name, packageName, path, envVariable }) {
  if (existsSync(path)) {
    console.log(`✓ ${name} at ${path}`);
    return true;
  }
  if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    console.log(`${name} is missing; installing Debian's ${packageName} package`);
    // Generous limits: a package install cut short leaves dpkg half-configured for every later run,
    // and a busy machine can take minutes to unpack Chromium. Finish any such earlier install first.
    sh('dpkg', ['--configure', '-a'], 600_000);
    sh('apt-get', ['update', '-qq'], 300_000);
    sh('apt-get', ['install', '-y', '-qq', packageName], 900_000);
    if (existsSync(path)) return true;
  }
  console.error(`✗ ${name} not found at ${path}: install your distribution's ${packageName}, or set ${envVariable}.`);
  return false;
}

const results = [
  await ensure('PostgreSQL', pgAnswers, startPostgres, PG_URL),
  await ensure('MariaDB/MySQL', mysqlAnswers, startMariadb, MYSQL_URL),
  // The dashboard test drives Chromium (never a browser download).
  ensureDebianProgram({ name: 'Chromium', packageName: 'chromium', path: process.env.DAL_CHROMIUM_PATH ?? '/usr/bin/chromium', envVariable: 'DAL_CHROMIUM_PATH' }),
  // The PgBouncer tests start their own pgbouncer (transaction mode) in front of PostgreSQL.
  ensureDebianProgram({ name: 'PgBouncer', packageName: 'pgbouncer', path: process.env.DAL_PGBOUNCER_PATH ?? '/usr/sbin/pgbouncer', envVariable: 'DAL_PGBOUNCER_PATH' }),
];
process.exit(results.every(Boolean) ? 0 : 1);
