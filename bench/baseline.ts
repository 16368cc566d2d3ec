/**
 * The baseline the benchmark compares sigmalite against: a bare Fastify route per scenario that
 * serves the same JSON bytes from memory, and, for creates, inserts the same document with a bare
 * better-sqlite3 statement (WAL, as sigmalite's store), or, given a PostgreSQL URL instead of a
 * file, with one bare INSERT through `pg` (a pool as sigmalite's). Prints its URL on stdout.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import pg from 'pg';

interface Bytes {
  detail: string;
  list: string;
  listAll: string;
  created: string;
}

const [bytesFile, dbFile] = process.argv.slice(2);
if (!bytesFile || !dbFile) throw new Error('usage: baseline.ts BYTES.json DB|POSTGRES_URL');
const bytes = JSON.parse(readFileSync(bytesFile, 'utf8')) as Bytes;

async function inserter(target: string): Promise<(uuid: string, doc: string) => Promise<void>> {
  if (/^postgres(ql)?:\/\//.test(target)) {
    const pool = new pg.Pool({ connectionString: target, max: 10 });
    await pool.query(
      'CREATE TABLE IF NOT EXISTS docs (seq BIGSERIAL PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, doc TEXT NOT NULL)',
    );
    return async (uuid, doc) => {
      await pool.query('INSERT INTO docs (uuid, doc) VALUES ($1, $2)', [uuid, doc]);
    };
  }
  const db = new Database(target);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(
    'CREATE TABLE IF NOT EXISTS docs (seq INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, doc TEXT NOT NULL)',
  );
  const insert = db.prepare('INSERT INTO docs (uuid, doc) VALUES (?, ?)');
  return async (uuid, doc) => {
    insert.run(uuid, doc);
  };
}
const insert = await inserter(dbFile);

const app = Fastify({ logger: false });
const json = 'application/json; charset=utf-8';
app.get('/api/2.0/servers/detail/', async (request, reply) => {
  const limit = (request.query as Record<string, string>).limit;
  return reply.type(json).send(limit === '0' ? bytes.listAll : bytes.list);
});
app.get('/api/2.0/servers/:uuid/', async (_request, reply) => reply.type(json).send(bytes.detail));
app.post('/api/2.0/servers/', async (request, reply) => {
  await insert(randomUUID(), JSON.stringify(request.body));
  return reply.code(201).type(json).send(bytes.created);
});

const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`baseline listening on ${address}\n`);
