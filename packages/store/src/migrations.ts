/**
 * Migrations, in code so they ship inside the build. Each one works on SQLite and PostgreSQL;
 * where the two differ (binary columns, serial ids, triggers) the dialect is passed in.
 */
import { sql, type Kysely } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';
import type { Dialect } from './types.ts';

export const GENESIS_HASH = '0'.repeat(64);

type Db = Kysely<unknown>;

function initial(dialect: Dialect): Migration {
  const binary = dialect === 'postgres' ? 'bytea' : 'blob';
  // Key columns compare byte by byte on PostgreSQL (see keysInByteOrder).
  const key = dialect === 'postgres' ? sql`text collate "C"` : 'text';
  return {
    async up(db: Db) {
      await db.schema
        .createTable('organisations')
        .addColumn('id', key, (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('plans')
        .addColumn('organisation_id', key, (c) => c.notNull().references('organisations.id'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('yaml', 'text', (c) => c.notNull())
        .addColumn('source_name', 'text', (c) => c.notNull())
        .addColumn('applied_at', 'text', (c) => c.notNull())
        .addColumn('applied_by', 'text', (c) => c.notNull())
        .addColumn('diff', 'text')
        .addPrimaryKeyConstraint('plans_pk', ['organisation_id', 'version'])
        .execute();

      await db.schema
        .createTable('blobs')
        .addColumn('sha256', key, (c) => c.primaryKey())
        .addColumn('media_type', 'text', (c) => c.notNull())
        .addColumn('size', 'integer', (c) => c.notNull())
        .addColumn('data', sql.raw(binary), (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('posts')
        .addColumn('organisation_id', key, (c) => c.notNull().references('organisations.id'))
        .addColumn('id', key, (c) => c.notNull())
        .addColumn('source', key, (c) => c.notNull())
        .addColumn('reply_to_post_id', 'text')
        .addColumn('content', 'text', (c) => c.notNull())
        .addColumn('created_at', key, (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('posts_pk', ['organisation_id', 'id'])
        .execute();
      await db.schema
        .createIndex('posts_org_source_created')
        .on('posts')
        .columns(['organisation_id', 'source', 'created_at'])
        .execute();

      await db.schema
        .createTable('deliveries')
        .addColumn('id', key, (c) => c.primaryKey())
        .addColumn('organisation_id', key, (c) => c.notNull().references('organisations.id'))
        .addColumn('action_key', 'text', (c) => c.notNull())
        .addColumn('post_id', key)
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('network', 'text', (c) => c.notNull())
        .addColumn('plan_version', 'integer')
        .addColumn('due_at', key, (c) => c.notNull())
        .addColumn('priority', 'integer', (c) => c.notNull())
        .addColumn('content_hash', 'text', (c) => c.notNull())
        .addColumn('payload', 'text')
        .addColumn('status', key, (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_error', 'text')
        .addColumn('checklist', 'text')
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('remote_id', 'text')
        .addColumn('url', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('deliveries_org_status_due')
        .on('deliveries')
        .columns(['organisation_id', 'status', 'due_at'])
        .execute();
      await db.schema
        .createIndex('deliveries_status_due')
        .on('deliveries')
        .columns(['status', 'due_at'])
        .execute();
      await db.schema
        .createIndex('deliveries_org_post')
        .on('deliveries')
        .columns(['organisation_id', 'post_id'])
        .execute();

      await db.schema
        .createTable('delivery_parts')
        .addColumn('delivery_id', key, (c) => c.notNull().references('deliveries.id'))
        .addColumn('organisation_id', 'text', (c) => c.notNull())
        .addColumn('part', 'integer', (c) => c.notNull())
        .addColumn('text', 'text', (c) => c.notNull())
        .addColumn('images', 'text', (c) => c.notNull())
        .addColumn('language', 'text', (c) => c.notNull())
        .addColumn('remote_id', 'text')
        .addColumn('url', 'text')
        .addColumn('remote_ref', 'text')
        .addColumn('published_at', key)
        .addColumn('outcome_unknown', 'integer', (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('delivery_parts_pk', ['delivery_id', 'part'])
        .execute();
      await db.schema
        .createIndex('delivery_parts_published')
        .on('delivery_parts')
        .columns(['published_at'])
        .execute();

      const snapshots = db.schema.createTable('profile_snapshots');
      await (
        dialect === 'postgres'
          ? snapshots.addColumn('id', 'serial', (c) => c.primaryKey())
          : snapshots.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      )
        .addColumn('organisation_id', key, (c) => c.notNull().references('organisations.id'))
        .addColumn('network', key, (c) => c.notNull())
        .addColumn('delivery_id', 'text')
        .addColumn('profile', 'text', (c) => c.notNull())
        .addColumn('taken_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('profile_snapshots_org_network')
        .on('profile_snapshots')
        .columns(['organisation_id', 'network', 'id'])
        .execute();

      await db.schema
        .createTable('api_tokens')
        .addColumn('id', key, (c) => c.primaryKey())
        .addColumn('organisation_id', key, (c) => c.notNull().references('organisations.id'))
        .addColumn('name', key, (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('hash', key, (c) => c.notNull().unique())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('last_used_at', 'text')
        .addColumn('revoked_at', 'text')
        .execute();
      // A name is reusable once its token is revoked.
      await db.schema
        .createIndex('api_tokens_live_name')
        .on('api_tokens')
        .columns(['organisation_id', 'name'])
        .unique()
        .where(sql.ref('revoked_at'), 'is', null)
        .execute();

      await db.schema
        .createTable('kv')
        .addColumn('organisation_id', key, (c) => c.notNull())
        .addColumn('key', key, (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('kv_pk', ['organisation_id', 'key'])
        .execute();

      await db.schema
        .createTable('audit_log')
        .addColumn('seq', 'integer', (c) => c.primaryKey())
        .addColumn('at', key, (c) => c.notNull())
        .addColumn('organisation_id', key)
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('network', 'text')
        .addColumn('post_id', 'text')
        .addColumn('delivery_id', 'text')
        .addColumn('remote_id', 'text')
        .addColumn('before', 'text')
        .addColumn('after', 'text')
        .addColumn('request_id', 'text')
        .addColumn('job_id', 'text')
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('details', 'text')
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('audit_log_org_at')
        .on('audit_log')
        .columns(['organisation_id', 'at'])
        .execute();
      await db.schema.createIndex('audit_log_at').on('audit_log').columns(['at']).execute();

      await db.schema
        .createTable('audit_head')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
      await sql`insert into audit_head (id, seq, hash) values (1, 0, ${GENESIS_HASH})`.execute(db);

      // The log is append-only in the database too, not only in the code.
      if (dialect === 'postgres') {
        await sql`create or replace function sunset_audit_append_only() returns trigger language plpgsql as $$
          begin raise exception 'audit_log is append-only: % refused', tg_op; end $$`.execute(db);
        await sql`create trigger audit_log_append_only before update or delete on audit_log
          for each row execute function sunset_audit_append_only()`.execute(db);
      } else {
        await sql`create trigger audit_log_no_update before update on audit_log
          begin select raise(abort, 'audit_log is append-only: UPDATE refused'); end`.execute(db);
        await sql`create trigger audit_log_no_delete before delete on audit_log
          begin select raise(abort, 'audit_log is append-only: DELETE refused'); end`.execute(db);
      }
    },
    async down() {
      throw new Error('the initial migration cannot be undone: the audit log is kept');
    },
  };
}

/**
 * The plan's settings (everything but its posts) as JSON beside its YAML, so that a worker learns
 * a new plan's networks and sunset without parsing the whole file. Plans applied before have
 * none: they are read from the YAML.
 */
const planSettings: Migration = {
  async up(db: Db) {
    await db.schema.alterTable('plans').addColumn('settings', 'text').execute();
  },
};

/**
 * The text columns that keys and indexes are made of, per table: ids, statuses, network names and
 * ISO 8601 times.
 */
export const KEY_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  organisations: ['id'],
  plans: ['organisation_id'],
  blobs: ['sha256'],
  posts: ['organisation_id', 'id', 'source', 'created_at'],
  deliveries: ['id', 'organisation_id', 'post_id', 'status', 'due_at'],
  delivery_parts: ['delivery_id', 'published_at'],
  profile_snapshots: ['organisation_id', 'network'],
  api_tokens: ['id', 'organisation_id', 'name', 'hash'],
  kv: ['organisation_id', 'key'],
  audit_log: ['organisation_id', 'at'],
};

/**
 * PostgreSQL: those columns compare byte by byte (collation "C"), as SQLite compares all text.
 * With the database's collation (en_US.UTF-8 in the official image, C.UTF-8 on Debian) every
 * comparison of an index lookup or insert went through the C library's locale-aware strcoll, a
 * share of PostgreSQL's CPU worth saving (README, "Measurements"). Keys are ASCII, so equality
 * and their order are unchanged; names in a unique index
 * (api_tokens) sort by code point, as they do on SQLite. Indexes are rebuilt, rows stay. The
 * initial migration creates these columns so (a new database has no rebuild, no table scan).
 */
const keysInByteOrder = (dialect: Dialect): Migration => ({
  async up(db: Db) {
    if (dialect !== 'postgres') return;
    // Databases made since have them so from the start (the initial migration): nothing to redo.
    const done = await sql<{ table_name: string; column_name: string }>`
      select table_name, column_name from information_schema.columns
      where table_schema = current_schema() and collation_name = 'C'`.execute(db);
    const isC = new Set(done.rows.map((r) => `${r.table_name}.${r.column_name}`));
    for (const [table, columns] of Object.entries(KEY_COLUMNS)) {
      const alters = columns
        .filter((c) => !isC.has(`${table}.${c}`))
        .map((c) => sql`alter column ${sql.ref(c)} type text collate "C"`);
      if (alters.length > 0) await sql`alter table ${sql.table(table)} ${sql.join(alters)}`.execute(db);
    }
  },
});

/**
 * Tokens belong to a person, so that second-person approval compares people, not token names
 * (one person may hold a crisis and an admin token). Tokens made before have their name as
 * person. The column stays nullable: SQLite cannot add a NOT NULL column without a default, and
 * every write gives one.
 */
const tokenPersons: Migration = {
  async up(db: Db) {
    await db.schema.alterTable('api_tokens').addColumn('person', 'text').execute();
    await sql`update api_tokens set person = name where person is null`.execute(db);
  },
};

/**
 * Each claim of a delivery takes a lease: who holds it, an epoch counted up by every claim, and
 * until when it holds unless renewed. A second claim while the lease holds is refused, and every
 * write that records a part or a result names its epoch, so that a worker that lost its lease (paused
 * past it, cut off from Redis) changes nothing. The epoch stays null until the first claim.
 */
const deliveryLeases = (dialect: Dialect): Migration => ({
  async up(db: Db) {
    const key = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
    await db.schema.alterTable('deliveries').addColumn('lease_owner', 'text').execute();
    await db.schema.alterTable('deliveries').addColumn('lease_epoch', 'integer').execute();
    await db.schema.alterTable('deliveries').addColumn('lease_until', key).execute();
  },
  async down(db: Db) {
    for (const column of ['lease_owner', 'lease_epoch', 'lease_until'])
      await db.schema.alterTable('deliveries').dropColumn(column).execute();
  },
});

/**
 * A part whose X outcome is unknown keeps, through a plan re-apply that changes it, the text its
 * attempt sent and since when: the next attempt searches X for that text before sending anything.
 */
const unknownOutcomeText: Migration = {
  async up(db: Db) {
    await db.schema.alterTable('delivery_parts').addColumn('unknown_text', 'text').execute();
    await db.schema.alterTable('delivery_parts').addColumn('unknown_since', 'text').execute();
  },
};

/**
 * CAP feeds the worker watches: each feed's state (the validators of its last answer, when it was
 * read, its consecutive errors and when to read it next, the lease of the worker reading it), and
 * every alert (sender, identifier) seen in it, kept or filtered out and why, with its crisis post.
 */
const capFeeds = (dialect: Dialect): Migration => ({
  async up(db: Db) {
    const key = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
    await db.schema
      .createTable('cap_feeds')
      .addColumn('organisation_id', key, (c) => c.notNull().references('organisations.id'))
      .addColumn('feed_id', key, (c) => c.notNull())
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('etag', 'text')
      .addColumn('last_modified', 'text')
      .addColumn('polled_at', key)
      .addColumn('ok_at', 'text')
      .addColumn('status', 'text')
      .addColumn('last_error', 'text')
      .addColumn('errors', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('next_poll_at', key)
      .addColumn('lease_owner', 'text')
      .addColumn('lease_until', key)
      .addPrimaryKeyConstraint('cap_feeds_pk', ['organisation_id', 'feed_id'])
      .execute();
    await db.schema
      .createTable('cap_feed_alerts')
      .addColumn('organisation_id', key, (c) => c.notNull().references('organisations.id'))
      .addColumn('feed_id', key, (c) => c.notNull())
      .addColumn('sender', key, (c) => c.notNull())
      .addColumn('identifier', key, (c) => c.notNull())
      .addColumn('sent', 'text', (c) => c.notNull())
      .addColumn('msg_type', 'text', (c) => c.notNull())
      .addColumn('details', 'text', (c) => c.notNull())
      .addColumn('kept', 'integer', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('post_id', 'text')
      .addColumn('seen_at', key, (c) => c.notNull())
      .addPrimaryKeyConstraint('cap_feed_alerts_pk', ['organisation_id', 'feed_id', 'sender', 'identifier'])
      .execute();
    await db.schema
      .createIndex('cap_feed_alerts_org_seen')
      .on('cap_feed_alerts')
      .columns(['organisation_id', 'seen_at'])
      .execute();
  },
  async down(db: Db) {
    await db.schema.dropTable('cap_feed_alerts').execute();
    await db.schema.dropTable('cap_feeds').execute();
  },
});

/**
 * What X charged, request by request, so that a month's spend and the account's rolling 24-hour
 * counts of originals and replies come from what was actually sent and read; and the ordinary X
 * deliveries held while X is paused (credits spent) or the budget keeps its reserve, to be queued
 * again when the operator resumes X.
 */
const xSpend = (dialect: Dialect): Migration => ({
  async up(db: Db) {
    const key = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
    await db.schema
      .createTable('x_usage')
      .addColumn('organisation_id', key, (c) => c.notNull().references('organisations.id'))
      .addColumn('at', key, (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('count', 'integer', (c) => c.notNull())
      .addColumn('cost_micros', 'integer', (c) => c.notNull())
      .addColumn('crisis', 'integer', (c) => c.notNull())
      .addColumn('delivery_id', 'text')
      .execute();
    await db.schema.createIndex('x_usage_org_at').on('x_usage').columns(['organisation_id', 'at']).execute();
    await db.schema
      .createTable('x_holds')
      .addColumn('delivery_id', key, (c) => c.primaryKey())
      .addColumn('organisation_id', key, (c) => c.notNull().references('organisations.id'))
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('held_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('x_holds_org').on('x_holds').columns(['organisation_id']).execute();
  },
  async down(db: Db) {
    await db.schema.dropTable('x_holds').execute();
    await db.schema.dropTable('x_usage').execute();
  },
});

/**
 * The audience watch: each account's follower count on each network over time; the worker's
 * periodic tasks per organisation (follower reads, identity checks) with a lease, so that one
 * worker at a time runs each however many run; and the identity checks' results.
 */
const followers = (dialect: Dialect): Migration => ({
  async up(db: Db) {
    const key = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
    await db.schema
      .createTable('follower_counts')
      .addColumn('organisation_id', key, (c) => c.notNull().references('organisations.id'))
      .addColumn('network', key, (c) => c.notNull())
      .addColumn('at', key, (c) => c.notNull())
      .addColumn('count', 'integer', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('follower_counts_org_network_at')
      .on('follower_counts')
      .columns(['organisation_id', 'network', 'at'])
      .execute();
    await db.schema
      .createTable('watch_tasks')
      .addColumn('organisation_id', key, (c) => c.notNull().references('organisations.id'))
      .addColumn('task', key, (c) => c.notNull())
      .addColumn('ran_at', key)
      .addColumn('status', 'text')
      .addColumn('message', 'text')
      .addColumn('next_at', key)
      .addColumn('lease_owner', 'text')
      .addColumn('lease_until', key)
      .addPrimaryKeyConstraint('watch_tasks_pk', ['organisation_id', 'task'])
      .execute();
    await db.schema
      .createTable('identity_checks')
      .addColumn('organisation_id', key, (c) => c.notNull().references('organisations.id'))
      .addColumn('at', key, (c) => c.notNull())
      .addColumn('failed', 'integer', (c) => c.notNull())
      .addColumn('results', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('identity_checks_org_at')
      .on('identity_checks')
      .columns(['organisation_id', 'at'])
      .execute();
  },
  async down(db: Db) {
    await db.schema.dropTable('identity_checks').execute();
    await db.schema.dropTable('watch_tasks').execute();
    await db.schema.dropTable('follower_counts').execute();
  },
});

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return {
    getMigrations: () =>
      Promise.resolve({
        '0001-initial': initial(dialect),
        '0002-plan-settings': planSettings,
        '0003-keys-in-byte-order': keysInByteOrder(dialect),
        '0004-token-persons': tokenPersons,
        '0005-delivery-leases': deliveryLeases(dialect),
        '0006-unknown-outcome-text': unknownOutcomeText,
        '0007-cap-feeds': capFeeds(dialect),
        '0008-x-spend': xSpend(dialect),
        '0009-followers': followers(dialect),
      }),
  };
}
