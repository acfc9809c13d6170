/** Types of better-sqlite3-session-store (it ships none): a factory over express-session. */
declare module 'better-sqlite3-session-store' {
  import type session from 'express-session';
  import type { Database } from 'better-sqlite3';

  interface SqliteStoreOptions {
    client: Database;
    expired?: { clear?: boolean; intervalMs?: number };
  }

  function createSqliteStore(expressSession: typeof session): new (options: SqliteStoreOptions) => session.Store;
  export = createSqliteStore;
}
