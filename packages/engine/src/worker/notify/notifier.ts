/**
 * The notifier: a BullMQ worker of its own on the notifications' queue, so that telling the team
 * never takes a slot, a limiter or a connection a post needs. A `notify` job (an event) looks up
 * the routes in force and adds one `send` job per channel; each `send` is retried on its own with
 * backoff, and every outcome (sent, failed and retried, given up) is in the audit log, without
 * the message's secrets or the recipients' addresses.
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '@sunset/core';
import { createGuardedClient } from '@sunset/networks';
import {
  backoffStrategy,
  JOBS,
  NOTIFY_QUEUE,
  parseNotifyJob,
  type NotifyEventName,
  type NotifyJobData,
  type Queues,
} from '@sunset/queue';
import type { Store } from '@sunset/store';
import {
  approverRoles,
  notificationRoutes,
  type NotificationRoute,
  type NotificationSettings,
} from '../../outbox/notifications.ts';
import { storedContentOf } from '../../outbox/post-types.ts';
import { emailProvider } from './email/email.ts';
import { buildMessage, EventGoneError } from './message.ts';
import { NotificationError, type NotificationProvider } from './provider.ts';
import { webhookProvider } from './webhook/webhook.ts';

export interface NotifierOptions {
  store: Store;
  /** A worker-role connection (maxRetriesPerRequest: null). */
  connection: Redis;
  prefix?: string;
  queues: Queues;
  settings: NotificationSettings;
  env: Readonly<Record<string, string | undefined>>;
  secretsDir: string;
  /** Internal destinations webhooks may reach (SUNSET_FETCH_ALLOW). */
  fetchAllow?: readonly string[];
  logger: Logger;
  /** The first retry's base delay (default the catalog's). */
  backoffMs?: number;
  concurrency?: number;
}

export interface Notifier {
  close(): Promise<void>;
}

const AWAITING: readonly NotifyEventName[] = [
  'crisis.awaiting-approval',
  'post.awaiting-approval',
  'feed.alert-drafted',
];

export async function startNotifier(options: NotifierOptions): Promise<Notifier> {
  const { store, settings } = options;
  const log = options.logger.child({ subsystem: 'notifier' });
  const client = createGuardedClient({ allow: options.fetchAllow ?? [] });

  const providerOf = (organisationId: string, channel: string): NotificationProvider | undefined => {
    const c = settings.organisations[organisationId]?.channels[channel];
    if (!c) return undefined;
    const scope = { organisationId, env: options.env, secretsDir: options.secretsDir };
    const where = `notifications: organisations.${organisationId}.channels.${channel}`;
    return c.type === 'webhook' ? webhookProvider(c, scope, client, where) : emailProvider(c, scope, where);
  };

  /** Whom an e-mail route reaches, as persons with their addresses (the operator's list). */
  const recipientsOf = async (data: NotifyJobData, route: NotificationRoute) => {
    const org = settings.organisations[data.organisationId];
    if (!org) return [];
    const wanted = route.to ?? [AWAITING.includes(data.event) ? 'approvers' : 'everyone'];
    const persons = new Set<string>();
    for (const who of wanted) {
      if (who === 'everyone') for (const p of Object.keys(org.persons)) persons.add(p);
      else if (who === 'approvers') {
        const post = data.postId ? await store.posts.get(data.organisationId, data.postId) : undefined;
        // Its sender cannot approve it: they are not asked to.
        const sender = post ? (storedContentOf(post).sentBy?.person ?? post.createdBy) : undefined;
        const roles = approverRoles(data.event);
        for (const t of await store.tokens.list(data.organisationId)) {
          if (!t.revokedAt && roles.includes(t.role) && t.person !== sender) persons.add(t.person);
        }
      } else persons.add(who);
    }
    return [...persons]
      .filter((p) => org.persons[p])
      .sort()
      .map((p) => ({ person: p, email: org.persons[p]!.email }));
  };

  const audit = async (
    data: NotifyJobData,
    action: string,
    outcome: 'ok' | 'error',
    details: Record<string, unknown>,
    error?: string,
  ) => {
    await store.audit.append({
      organisationId: data.organisationId,
      actor: 'system',
      action,
      ...(data.postId ? { postId: data.postId } : {}),
      ...(data.deliveryId ? { deliveryId: data.deliveryId } : {}),
      outcome,
      ...(error ? { error } : {}),
      details: { event: data.event, ...details },
    });
  };

  const fanOut = async (job: Job<NotifyJobData>) => {
    const data = parseNotifyJob(job.data);
    const { routes } = await notificationRoutes(store, settings, data.organisationId);
    const channels = [...new Set((routes[data.event] ?? []).map((r) => r.channel))];
    for (const channel of channels) {
      await options.queues.notify('send', { ...data, channel }, `${job.id ?? ''}.${channel}`, {
        ...(options.backoffMs !== undefined ? { backoffMs: options.backoffMs } : {}),
      });
    }
    return channels.length;
  };

  const send = async (job: Job<NotifyJobData>) => {
    const data = parseNotifyJob(job.data);
    const channel = data.channel ?? '';
    const attempt = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? JOBS.send.attempts;
    const jobLog = log.child({
      jobId: job.id,
      organisationId: data.organisationId,
      channel,
      event: data.event,
    });
    const { routes } = await notificationRoutes(store, settings, data.organisationId);
    const routesOfChannel = (routes[data.event] ?? []).filter((r) => r.channel === channel);
    const provider = providerOf(data.organisationId, channel);
    const kind = settings.organisations[data.organisationId]?.channels[channel]?.type;
    if (!provider || routesOfChannel.length === 0) {
      // The operator or the admin took the channel away since: nothing to send.
      await audit(
        data,
        'notification.dropped',
        'error',
        { channel, attempt },
        'the channel or its route is gone',
      );
      return 'dropped';
    }
    const recipients =
      kind === 'email'
        ? [
            ...new Map(
              (await Promise.all(routesOfChannel.map((r) => recipientsOf(data, r))))
                .flat()
                .map((r) => [r.person, r] as const),
            ).values(),
          ]
        : [];
    try {
      const message = await buildMessage(store, data, settings.dashboardUrl);
      const outcome = await provider.send(message, { id: job.id ?? '', recipients });
      await audit(data, 'notification.sent', 'ok', {
        channel,
        type: kind,
        attempt,
        ...(kind === 'email' ? { recipients: recipients.map((r) => r.person) } : {}),
        ...outcome.detail,
      });
      jobLog.info({ attempt }, 'notification sent');
      return 'sent';
    } catch (err) {
      const message = (err as Error).message;
      const permanent = err instanceof EventGoneError || (err instanceof NotificationError && !err.retryable);
      const common = { channel, type: kind, attempt, of: attempts };
      if (permanent || attempt >= attempts) {
        jobLog.error({ err: message, attempt }, 'notification given up');
        await audit(data, 'notification.given-up', 'error', common, message).catch(() => undefined);
        throw new UnrecoverableError(message);
      }
      jobLog.warn({ err: message, attempt }, 'notification failed; retrying later');
      await audit(data, 'notification.attempt-failed', 'error', common, message).catch(() => undefined);
      throw err instanceof Error ? err : new Error(message);
    }
  };

  const worker = new Worker<NotifyJobData, string | number>(
    NOTIFY_QUEUE,
    async (job) => (job.name === JOBS.send.name ? send(job) : fanOut(job)),
    {
      connection: options.connection,
      ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
      concurrency: options.concurrency ?? 4,
      settings: { backoffStrategy },
    },
  );
  worker.on('error', (err) => log.error({ err: err.message }, 'notifier error'));
  await worker.waitUntilReady();
  return { close: () => worker.close() };
}
