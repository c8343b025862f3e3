// Kysely's migrator reads the tables of every schema in the database. A store opened (and so
// migrated) while other schemas are dropped (another deployment's on the same database, or, in
// CI, the tests of another package cleaning up) must still open.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from './open.ts';
import { postgresUnavailable, TEST_POSTGRES_URL } from './testing/index.ts';

const skip = await postgresUnavailable();
const name = () => `t_${randomBytes(6).toString('hex')}`;

describe.skipIf(skip !== undefined)(
  `opening a store while other schemas are dropped${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let admin: pg.Client;
    const mine: string[] = [];
    beforeAll(async () => {
      admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await admin.connect();
    });
    afterAll(async () => {
      for (const schema of mine) await admin?.query(`drop schema if exists ${schema} cascade`);
      await admin?.end();
    });

    it('migrates each new schema, whatever schemas vanish meanwhile', async () => {
      const errors: string[] = [];
      for (let round = 0; round < 4; round++) {
        const others = Array.from({ length: 15 }, name);
        for (const other of others) {
          await admin.query(
            `create schema ${other}; create table ${other}.a (id serial primary key, b text); create table ${other}.c (id serial primary key)`,
          );
        }
        const dropping = (async () => {
          for (const other of others) await admin.query(`drop schema ${other} cascade`);
        })();
        const opening = Array.from({ length: 3 }, async () => {
          const schema = name();
          mine.push(schema);
          try {
            const store = await openStore({ url: TEST_POSTGRES_URL, schema });
            await store.close();
          } catch (err) {
            errors.push(String(err));
          }
        });
        await Promise.all([dropping, ...opening]);
      }
      expect(errors).toEqual([]);
    }, 120_000);
  },
);
