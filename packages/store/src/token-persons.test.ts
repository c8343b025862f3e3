// Migration 0004 on both dialects: a token made before persons existed gets its name as person,
// and new tokens keep the person they are given.
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from './open.ts';
import { openTestStore, rawSql, testDialects, type TestStore } from './testing/index.ts';

const dialects = await testDialects();

describe.each(dialects)('token persons ($dialect)', ({ dialect, skip }) => {
  let t: TestStore | undefined;
  afterEach(async () => {
    await t?.cleanup();
    t = undefined;
  });

  it.skipIf(skip !== undefined)('gives tokens made before migration 0004 their name as person', async () => {
    t = await openTestStore(dialect);
    await t.store.organisations.ensure({ id: 'org-a', name: 'Org A' });
    await t.store.tokens.create({
      id: 'new',
      organisationId: 'org-a',
      name: 'alice-admin',
      person: 'alice',
      role: 'admin',
      hash: 'a'.repeat(64),
      createdBy: 'cli:test',
    });
    // Back to the schema of before: no person column, migration 0004 (nor those after it) not
    // run, one old token.
    await rawSql(
      t,
      `alter table api_tokens drop column person;
       alter table deliveries drop column lease_owner;
       alter table deliveries drop column lease_epoch;
       alter table deliveries drop column lease_until;
       alter table delivery_parts drop column unknown_text;
       alter table delivery_parts drop column unknown_since;
       drop table cap_feed_alerts;
       drop table cap_feeds;
       drop table x_holds;
       drop table x_usage;
       drop table identity_checks;
       drop table watch_tasks;
       drop table follower_counts;
       delete from kysely_migration where name >= '0004';
       insert into api_tokens (id, organisation_id, name, role, hash, created_at, created_by)
       values ('old', 'org-a', 'duty-officer', 'crisis', '${'b'.repeat(64)}', '2026-01-01T00:00:00.000Z', 'cli:test')`,
    );
    const store = await openStore({ url: t.url, ...(t.schema ? { schema: t.schema } : {}) });
    try {
      const persons = (await store.tokens.list('org-a')).map((x) => [x.name, x.person]);
      expect(persons).toEqual(
        expect.arrayContaining([
          ['duty-officer', 'duty-officer'],
          ['alice-admin', 'alice-admin'],
        ]),
      );
      expect((await store.tokens.findByHash('b'.repeat(64)))?.person).toBe('duty-officer');
      await store.tokens.create({
        id: 'later',
        organisationId: 'org-a',
        name: 'alice-crisis',
        person: 'alice',
        role: 'crisis',
        hash: 'c'.repeat(64),
        createdBy: 'cli:test',
      });
      expect((await store.tokens.findByHash('c'.repeat(64)))?.person).toBe('alice');
    } finally {
      await store.close();
    }
  });
});
