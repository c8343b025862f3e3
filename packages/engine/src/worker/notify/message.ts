/**
 * The message of an event, built from the store when it is sent (the job carries ids only): the
 * post's text, each network's state and link, a failure's reason and checklist, the approval link.
 */
import { NETWORK_LABELS } from '@sunset/core';
import type { NotifyJobData } from '@sunset/queue';
import type { Delivery, Store } from '@sunset/store';
import { NoPlanError, OrgSettingsCache } from '../../outbox/org-settings.ts';
import { storedContentOf, type StoredContent } from '../../outbox/post-types.ts';
import { xPauseOf } from '../../outbox/x-economy.ts';
import type { NotificationMessage } from './provider.ts';

/** The dashboard screen that shows a post of this source, from the dashboard's address. */
function screenLink(base: string | undefined, source: string, postId: string): string | undefined {
  if (!base) return undefined;
  return source === 'crisis' ? `${base}#/crise/${encodeURIComponent(postId)}` : `${base}#/approbations`;
}

/** The language and time zone people read the message in: the applied plan's, English without one. */
interface Reading {
  fr: boolean;
  timeZone: string | undefined;
}

async function readingOf(store: Store, organisationId: string): Promise<Reading> {
  try {
    const { organisation } = (await new OrgSettingsCache(store).get(organisationId)).document;
    return { fr: /^fr\b/i.test(organisation.locale ?? ''), timeZone: organisation.timezone };
  } catch (err) {
    if (err instanceof NoPlanError) return { fr: false, timeZone: undefined };
    throw err;
  }
}

function dateOf(reading: Reading, at: Date): string {
  return new Intl.DateTimeFormat(reading.fr ? 'fr-FR' : 'en-GB', {
    dateStyle: 'long',
    timeStyle: 'short',
    ...(reading.timeZone ? { timeZone: reading.timeZone } : {}),
  }).format(at);
}

function apiLink(base: string | undefined, path: string): string | undefined {
  return base ? `${base}${path}` : undefined;
}

function networksOf(deliveries: readonly Delivery[]): NotificationMessage['networks'] {
  return deliveries.map((d) => ({
    network: d.network,
    status: d.status,
    ...((d.url ?? d.parts[0]?.url) ? { url: (d.url ?? d.parts[0]?.url)! } : {}),
    ...(d.status !== 'published' && d.lastError ? { error: d.lastError } : {}),
  }));
}

function quote(content: StoredContent): string {
  return content.text.length > 600 ? `${content.text.slice(0, 599)}…` : content.text;
}

export class EventGoneError extends Error {}

export async function buildMessage(
  store: Store,
  data: NotifyJobData,
  dashboardUrl: string | undefined,
): Promise<NotificationMessage> {
  const org = (await store.organisations.get(data.organisationId))?.name ?? data.organisationId;
  const reading = await readingOf(store, data.organisationId);
  const { fr } = reading;
  const say = (en: string, french: string) => (fr ? french : en);
  const base = { event: data.event, organisationId: data.organisationId };
  const post = data.postId ? await store.posts.get(data.organisationId, data.postId) : undefined;
  if (data.postId && !post) throw new EventGoneError(`post ${data.postId} is not in the store`);
  const content = post ? storedContentOf(post) : undefined;
  const sender = content?.sentBy?.person ?? post?.createdBy;
  switch (data.event) {
    case 'crisis.awaiting-approval':
    case 'feed.alert-drafted':
    case 'post.awaiting-approval': {
      const crisis = data.event !== 'post.awaiting-approval';
      const approve = crisis
        ? screenLink(dashboardUrl, 'crisis', post!.id)
        : screenLink(dashboardUrl, 'post', post!.id);
      const approveApi = apiLink(
        dashboardUrl,
        `v1/${crisis ? 'crisis' : 'posts'}/${encodeURIComponent(post!.id)}/approve`,
      );
      const what =
        data.event === 'feed.alert-drafted'
          ? say('A CAP feed alert was drafted as a crisis post', 'Une alerte CAP, rédigée en post de crise,')
          : crisis
            ? say(`A crisis post from ${sender}`, `Un post de crise de ${sender}`)
            : say(`A post from ${sender}`, `Un post de ${sender}`);
      const title = `[${org}] ${what} ${say('waits for approval', 'attend une approbation')}`;
      return {
        ...base,
        title,
        text: [
          `${title}:`,
          '',
          quote(content!),
          '',
          `${say('Networks:', 'Réseaux :')} ${content!.networks.map((n) => NETWORK_LABELS[n]).join(', ')}`,
          approve
            ? say(`Open it to approve: ${approve}`, `Ouvrez-le pour l'approuver : ${approve}`)
            : say(
                `Approve it with POST /v1/${crisis ? 'crisis' : 'posts'}/${post!.id}/approve`,
                `Approuvez-le avec POST /v1/${crisis ? 'crisis' : 'posts'}/${post!.id}/approve`,
              ),
          say(
            'A person other than its sender must approve it.',
            'Une autre personne que son expéditeur doit l’approuver.',
          ),
        ].join('\n'),
        postId: post!.id,
        post: content!.text,
        links: { ...(approve ? { approve } : {}), ...(approveApi ? { approveApi } : {}) },
      };
    }
    case 'crisis.published': {
      const deliveries = await store.deliveries.list({
        organisationId: data.organisationId,
        postId: post!.id,
      });
      const networks = networksOf(deliveries) ?? [];
      const title = `[${org}] ${say('Crisis post published', 'Post de crise publié')}`;
      return {
        ...base,
        title,
        text: [
          `${title}:`,
          '',
          quote(content!),
          '',
          ...networks.map(
            (n) =>
              `${NETWORK_LABELS[n.network]}: ${n.status === 'published' ? (n.url ?? say('published', 'publié')) : `${n.status}${n.error ? ` (${n.error})` : ''}`}`,
          ),
        ].join('\n'),
        postId: post!.id,
        post: content!.text,
        links: {
          ...(screenLink(dashboardUrl, 'crisis', post!.id)
            ? { post: screenLink(dashboardUrl, 'crisis', post!.id)! }
            : {}),
        },
        networks,
      };
    }
    case 'delivery.failed':
    case 'delivery.needs-attention': {
      const delivery = data.deliveryId ? await store.deliveries.get(data.deliveryId) : undefined;
      if (!delivery || delivery.organisationId !== data.organisationId)
        throw new EventGoneError(`delivery ${data.deliveryId ?? ''} is not in the store`);
      const failed = data.event === 'delivery.failed';
      const network = NETWORK_LABELS[delivery.network];
      const title = `[${org}] ${network}${say(':', ' :')} ${
        failed
          ? say('a delivery failed', 'une diffusion a échoué')
          : say('a delivery needs attention', 'une diffusion demande une action')
      }`;
      const reason = delivery.lastError ?? (failed ? 'failed' : 'needs attention');
      const postText = delivery.parts[0]?.text;
      return {
        ...base,
        title,
        text: [
          `${title} (${delivery.source} ${delivery.kind}${delivery.postId ? ` ${delivery.postId}` : ''}).`,
          `${say('Reason:', 'Raison :')} ${reason}`,
          ...(delivery.checklist?.length
            ? ['', say('What to do:', 'Que faire :'), ...delivery.checklist.map((c) => `- ${c}`)]
            : []),
          ...(postText ? ['', quote({ text: postText } as StoredContent)] : []),
        ].join('\n'),
        deliveryId: delivery.id,
        ...(delivery.postId ? { postId: delivery.postId } : {}),
        ...(postText ? { post: postText } : {}),
        links: {},
        networks: networksOf([delivery]),
        reason,
        ...(delivery.checklist?.length ? { checklist: delivery.checklist } : {}),
      };
    }
    case 'identity.check-failed': {
      const [run] = await store.watch.identityChecks(data.organisationId, 1);
      if (!run) throw new EventGoneError('no identity check run is in the store');
      const failed = run.results.filter((r) => r['status'] === 'failed');
      const reason = failed.map((r) => `${String(r['subject'])}: ${String(r['message'])}`).join('\n');
      const checklist = fr
        ? [
            'Lisez chaque vérification en échec : le compte ou le domaine est peut-être entre d’autres mains.',
            'Pour un profil X modifié : changez le mot de passe X, fermez les sessions inconnues, puis remettez le profil dormant.',
            `Lancez « sunset identity check <plan> » une fois corrigé ; le worker vérifie de nouveau chaque jour.`,
          ]
        : [
            'Read each failed check: the account or the domain may be in other hands.',
            'For a changed X profile: change the X password, end unknown sessions, then set the dormant profile again.',
            `Run "sunset identity check <plan>" once it is fixed; the worker checks again daily.`,
          ];
      const title = `[${org}] ${say('Identity check failed', 'Vérification d’identité en échec')}${say(':', ' :')} ${failed.length} ${say('of', 'sur')} ${run.results.length}`;
      return {
        ...base,
        title,
        text: [
          `${title} (${dateOf(reading, run.at)}).`,
          '',
          ...failed.map((r) => `- ${String(r['check'])} ${String(r['subject'])}: ${String(r['message'])}`),
          '',
          say('What to do:', 'Que faire :'),
          ...checklist.map((c) => `- ${c}`),
        ].join('\n'),
        links: {},
        reason,
        checklist,
      };
    }
    case 'x.paused': {
      const pause = await xPauseOf(store, data.organisationId);
      const reason = pause?.reason ?? 'X is paused';
      const checklist = fr
        ? [
            'Achetez des crédits X dans la console développeur de X.',
            `Puis lancez « sunset networks resume x ${data.organisationId} » (ou POST /v1/networks/x/resume) : les posts X retenus repartent.`,
            'Les posts de crise partent toujours sur X tant que les crédits durent.',
          ]
        : [
            "Buy X credits in X's developer console.",
            `Then run "sunset networks resume x ${data.organisationId}" (or POST /v1/networks/x/resume): held X posts go again.`,
            'Crisis posts still go to X while credits last.',
          ];
      const title = `[${org}] ${say('X paused: ordinary X posts are held', 'X en pause : les posts X ordinaires sont retenus')}`;
      return {
        ...base,
        title,
        text: [
          `${title}.`,
          `${say('Reason:', 'Raison :')} ${reason}`,
          '',
          say('What to do:', 'Que faire :'),
          ...checklist.map((c) => `- ${c}`),
        ].join('\n'),
        links: {},
        reason,
        checklist,
      };
    }
  }
}
