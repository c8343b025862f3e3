/** Plan re-apply's rewrite of deliveries still waiting, failed or cancelled (deliveries.replaceMany). */
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, DeliveryPartsTable } from '../schema.ts';
import type { DeliveryStatus, Dialect, Repositories } from '../types.ts';
import { CHUNK, insertInChunks, iso, text, type RepoContext } from './context.ts';
import { amongIds } from './postgres/sql.ts';
import { partRows } from './rows.ts';

/** The statuses a plan re-apply may still rewrite. */
const REPLACEABLE: readonly DeliveryStatus[] = ['queued', 'failed', 'cancelled'];

export function replaceMany({
  dialect,
  atomic,
  now,
}: RepoContext): Repositories['deliveries']['replaceMany'] {
  return (changes) => {
    const candidates = changes.filter((c) => REPLACEABLE.includes(c.expected));
    if (candidates.length === 0) return Promise.resolve([]);
    return atomic(async (q) => {
      const t = iso(now());
      const replaced: string[] = [];
      const orgOf = new Map<string, string>();
      // Read before the rows change: the times of the attempt whose outcome is unknown.
      const marked: {
        delivery_id: string;
        part: number;
        text: string;
        unknown_text: string | null;
        unknown_since: string | null;
        due_at: string;
        updated_at: string;
      }[] = [];
      for (let i = 0; i < candidates.length; i += CHUNK) {
        marked.push(
          ...(await q
            .selectFrom('delivery_parts as p')
            .innerJoin('deliveries as d', 'd.id', 'p.delivery_id')
            .select([
              'p.delivery_id',
              'p.part',
              'p.text',
              'p.unknown_text',
              'p.unknown_since',
              'd.due_at',
              'd.updated_at',
            ])
            .where(
              'p.delivery_id',
              'in',
              candidates.slice(i, i + CHUNK).map((c) => c.id),
            )
            .where('p.outcome_unknown', '=', 1)
            .where('p.remote_id', 'is', null)
            .execute()),
        );
      }
      // One statement per chunk: the new values travel as one JSON parameter, read back as
      // rows, and only rows still in the status the caller read are changed.
      for (let i = 0; i < candidates.length; i += CHUNK) {
        const chunk = candidates.slice(i, i + CHUNK);
        const values = JSON.stringify(
          chunk.map(({ id, expected, change }) => ({
            id,
            expected,
            due_at: iso(change.dueAt),
            priority: change.priority,
            content_hash: change.contentHash,
            payload: text(change.payload),
            job_id: change.jobId,
            plan_version: change.planVersion ?? null,
          })),
        );
        const { rows } = await (
          dialect === 'postgres'
            ? sql<{ id: string; organisation_id: string }>`
                update deliveries as d set due_at = v.due_at, priority = v.priority,
                  content_hash = v.content_hash, payload = v.payload, job_id = v.job_id,
                  plan_version = v.plan_version, status = 'queued', updated_at = ${t}
                from json_to_recordset(${values}::json) as v(id text, expected text, due_at text,
                  priority integer, content_hash text, payload text, job_id text, plan_version integer)
                where ${amongIds(sql`d.id`, chunk)} and d.id = v.id and d.status = v.expected
                returning d.id, d.organisation_id`
            : sql<{ id: string; organisation_id: string }>`
                update deliveries set due_at = v.due_at, priority = v.priority,
                  content_hash = v.content_hash, payload = v.payload, job_id = v.job_id,
                  plan_version = v.plan_version, status = 'queued', updated_at = ${t}
                from (select value ->> 'id' as id, value ->> 'expected' as expected,
                  value ->> 'due_at' as due_at, value ->> 'priority' as priority,
                  value ->> 'content_hash' as content_hash, value ->> 'payload' as payload,
                  value ->> 'job_id' as job_id, value ->> 'plan_version' as plan_version
                  from json_each(${values})) as v
                where deliveries.id = v.id and deliveries.status = v.expected
                returning deliveries.id, deliveries.organisation_id`
        ).execute(q);
        for (const r of rows) {
          replaced.push(r.id);
          orgOf.set(r.id, r.organisation_id);
        }
      }
      if (replaced.length === 0) return [];
      // Parts that have landed stay as they are: they cannot be taken back. Parts whose
      // outcome is unknown keep their mark (they may be on X): they take the new content, but
      // remember the text that was sent and since when, for the search before any new send.
      const kept = new Set<string>();
      const byId = new Map(candidates.map((c) => [c.id, c]));
      for (let i = 0; i < replaced.length; i += CHUNK) {
        const ids = replaced.slice(i, i + CHUNK);
        const landed = await q
          .selectFrom('delivery_parts')
          .select(['delivery_id', 'part'])
          .where('delivery_id', 'in', ids)
          .where('remote_id', 'is not', null)
          .execute();
        for (const p of landed) kept.add(`${p.delivery_id}\u0000${Number(p.part)}`);
        for (const m of marked.filter((m) => ids.includes(m.delivery_id))) {
          const key = `${m.delivery_id}\u0000${Number(m.part)}`;
          kept.add(key);
          const next = byId.get(m.delivery_id)?.change.parts.find((p) => p.part === Number(m.part));
          // Not in the new content (plan apply does not let that happen): left exactly as it was.
          if (!next) continue;
          const sentText = m.unknown_text ?? (m.text !== next.text ? m.text : null);
          const since = m.unknown_since ?? (m.due_at < m.updated_at ? m.due_at : m.updated_at);
          await q
            .updateTable('delivery_parts')
            .set({
              text: next.text,
              images: JSON.stringify(next.images),
              language: next.language,
              unknown_text: sentText,
              unknown_since: since,
            })
            .where('delivery_id', '=', m.delivery_id)
            .where('part', '=', Number(m.part))
            .execute();
        }
        await q
          .deleteFrom('delivery_parts')
          .where('delivery_id', 'in', ids)
          .where('remote_id', 'is', null)
          .where('outcome_unknown', '=', 0)
          .execute();
      }
      await insertParts(
        q,
        dialect,
        replaced.flatMap((id) => {
          const c = byId.get(id);
          const organisationId = orgOf.get(id);
          if (!c || organisationId === undefined) return [];
          return c.change.parts
            .filter((p) => !kept.has(`${id}\u0000${p.part}`))
            .map((p) => ({ ...p, deliveryId: id, organisationId }));
        }),
      );
      return replaced;
    });
  };
}

async function insertParts(
  q: Kysely<Database>,
  dialect: Dialect,
  parts: Parameters<typeof partRows>[0],
): Promise<Selectable<DeliveryPartsTable>[]> {
  const rows = partRows(parts);
  await insertInChunks(q, dialect, 'delivery_parts', rows);
  return rows;
}
