/**
 * Test fixtures: a store per dialect, each fresh (a temporary SQLite file, or a PostgreSQL
 * schema of its own that is dropped afterwards), so suites run the same cases on both.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openStore } from '../open.ts';
import type { Dialect, Store } from '../types.ts';

export const TEST_POSTGRES_URL =
  process.env['SUNSET_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestStore {
  store: Store;
  dialect: Dialect;
  /** What another process needs to open the same database. */
  url: string;
  schema?: string;
  cleanup(): Promise<void>;
}

let pgAnswer: Promise<string | undefined> | undefined;

/** Undefined when PostgreSQL answers; otherwise why the PostgreSQL variant is skipped. */
export function postgresUnavailable(): Promise<string | undefined> {
  pgAnswer ??= (async () => {
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('select 1');
      return undefined;
    } catch (err) {
      return `PostgreSQL is not answering at ${TEST_POSTGRES_URL} (${(err as Error).message})`;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return pgAnswer;
}

export async function openTestStore(dialect: Dialect): Promise<TestStore> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sunset-store-'));
    const url = path.join(dir, 'sunset.db');
    const store = await openStore({ url });
    return {
      store,
      dialect,
      url,
      async cleanup() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const store = await openStore({ url: TEST_POSTGRES_URL, schema });
  return {
    store,
    dialect,
    url: TEST_POSTGRES_URL,
    schema,
    async cleanup() {
      await store.close();
      const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await client.connect();
      try {
        await client.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await client.end();
      }
    },
  };
}

/** The dialects to run a suite on: SQLite always, PostgreSQL when it answers (else the reason). */
export async function testDialects(): Promise<{ dialect: Dialect; skip?: string }[]> {
  const reason = await postgresUnavailable();
  return [{ dialect: 'sqlite' }, reason ? { dialect: 'postgres', skip: reason } : { dialect: 'postgres' }];
}

/** Runs SQL straight on the database behind a test store, bypassing the repositories (tamper tests). */
export async function rawSql(t: TestStore, statement: string): Promise<void> {
  if (t.dialect === 'postgres') {
    const client = new pg.Client({
      connectionString: t.url,
      ...(t.schema ? { options: `-c search_path=${t.schema}` } : {}),
    });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
    return;
  }
  const { default: Sqlite } = await import('better-sqlite3');
  const db = new Sqlite(t.url, { timeout: 15_000 });
  try {
    db.exec(statement);
  } finally {
    db.close();
  }
}
