/**
 * A throw-away PostgreSQL database for one test run, named
 * `esm_test_<pid>_<random>`, holding connect-pg-simple's `session` table.
 * Created by global setup and dropped by global teardown.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Client } from 'pg';

/** A database created by {@link createTestDatabase}. */
export interface TestDatabase {
  /** Connection URL of the new database (what workers get as `PG_URL`). */
  url: string;
  /** Its name, `esm_test_<pid>_<random>`. */
  name: string;
  /** Drops the database, closing any connection still open on it. */
  drop(): Promise<void>;
}

/** Where to create test databases when `PG_URL` is not set. */
export const DEFAULT_PG_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Creates a fresh database on the server of `adminUrl` and the
 * connect-pg-simple `session` table in it (from the package's own table.sql).
 */
export async function createTestDatabase(adminUrl: string): Promise<TestDatabase> {
  const name = `esm_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
  const url = databaseUrl(adminUrl, name);
  const drop = (): Promise<void> => dropDatabase(adminUrl, name);
  try {
    await withClient(url, (client) => client.query(sessionTableSql()));
  } catch (err) {
    await drop();
    throw err;
  }
  return { url, name, drop };
}

/** `adminUrl` with its database replaced by `name`. */
function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** DROP DATABASE … WITH (FORCE) (PostgreSQL 13+), plain DROP on older servers. */
async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withClient(adminUrl, async (client) => {
    try {
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    } catch {
      await client.query(`DROP DATABASE IF EXISTS "${name}"`);
    }
  });
}

/** connect-pg-simple's table definition, as shipped in its table.sql. */
function sessionTableSql(): string {
  return readFileSync(join(dirname(require.resolve('connect-pg-simple')), 'table.sql'), 'utf8');
}

/** Runs `work` on a short-lived client connected to `url`. */
async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
