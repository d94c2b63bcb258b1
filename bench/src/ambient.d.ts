// The bench has no @types packages of its own (pg and better-sqlite3 ship none); typed loosely here.
declare module 'pg';
declare module 'better-sqlite3';
