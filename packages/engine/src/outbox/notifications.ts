/**
 * Notifications on the producer side: the operator's settings (channels, their secrets as
 * references, the persons' e-mail addresses), the routes the admin role chooses (which event goes
 * to which channel and whom), and `notify`, which hands an event to the notifier's queue. Telling
 * the team never holds a post up: `notify` logs a failure and returns.
 */
import { credentialScopeProblem, InputError, type Logger } from '@sunset/core';
import { isChannelName, NOTIFY_EVENTS, type NotifyEventName, type Queues } from '@sunset/queue';
import type { Store, TokenRole } from '@sunset/store';
import { parse as parseYaml } from 'yaml';

export { NOTIFY_EVENTS, type NotifyEventName } from '@sunset/queue';

export interface WebhookChannel {
  type: 'webhook';
  /** The receiver's address, or a reference (env:/file:) when the address itself is a secret. */
  url: string;
  /** Reference (env:/file:) to the HMAC-SHA256 key the receiver checks the signature with. */
  secret: string;
}

export interface EmailChannel {
  type: 'email';
  host: string;
  port: number;
  /** true: TLS from the first byte (port 465); false: STARTTLS when the server offers it. */
  secure: boolean;
  user?: string;
  /** Reference (env:/file:) to the SMTP password. */
  password?: string;
  from: string;
}

export type NotificationChannel = WebhookChannel | EmailChannel;

/** One event's destination: a channel and, for e-mail, whom (person names, `approvers`, `everyone`). */
export interface NotificationRoute {
  channel: string;
  to?: string[];
}

export type NotificationRoutes = Partial<Record<NotifyEventName, NotificationRoute[]>>;

export interface OrganisationNotifications {
  persons: Record<string, { email: string }>;
  channels: Record<string, NotificationChannel>;
  /** The routes until the admin sets others (API PUT /v1/notifications). */
  routes: NotificationRoutes;
}

export interface NotificationSettings {
  /** The dashboard's address as people reach it: the links in notifications start with it. */
  dashboardUrl?: string;
  organisations: Record<string, OrganisationNotifications>;
}

export const NO_NOTIFICATIONS: NotificationSettings = { organisations: {} };

/** Recipients that stand for several persons. */
export const RECIPIENT_GROUPS = ['approvers', 'everyone'] as const;

const EMAIL = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/;
const PERSON = /^[\p{L}\p{N}][\p{L}\p{N} ._'-]{0,79}$/u;

function object(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InputError(`${where}: must be a mapping`);
  return value as Record<string, unknown>;
}

function only(o: Record<string, unknown>, keys: readonly string[], where: string): void {
  const extra = Object.keys(o).filter((k) => !keys.includes(k));
  if (extra.length > 0)
    throw new InputError(`${where}: unknown field(s) ${extra.join(', ')} (known: ${keys.join(', ')})`);
}

function text(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new InputError(`${where}: must be a text`);
  return value;
}

/** A secret is named, never written: env:ORG__NAME or file:name inside the organisation's namespace. */
function reference(value: unknown, where: string, organisationId: string): string {
  const ref = text(value, where);
  if (!ref.startsWith('env:') && !ref.startsWith('file:'))
    throw new InputError(`${where}: write env:VARIABLE or file:name, not the secret itself`);
  const problem = credentialScopeProblem(ref, organisationId);
  if (problem) throw new InputError(`${where}: ${problem.replace(/plan/g, 'notification settings')}`);
  return ref;
}

function channelOf(value: unknown, where: string, organisationId: string): NotificationChannel {
  const o = object(value, where);
  if (o['type'] === 'webhook') {
    only(o, ['type', 'url', 'secret'], where);
    const url = text(o['url'], `${where}.url`);
    if (url.startsWith('env:') || url.startsWith('file:')) reference(url, `${where}.url`, organisationId);
    else {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new InputError(`${where}.url: not a URL`);
      }
      if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
        throw new InputError(`${where}.url: an http or https address`);
    }
    return { type: 'webhook', url, secret: reference(o['secret'], `${where}.secret`, organisationId) };
  }
  if (o['type'] === 'email') {
    only(o, ['type', 'host', 'port', 'secure', 'user', 'password', 'from'], where);
    const secure = o['secure'] === undefined ? false : o['secure'];
    if (typeof secure !== 'boolean') throw new InputError(`${where}.secure: true or false`);
    const port = o['port'] === undefined ? (secure ? 465 : 587) : o['port'];
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
      throw new InputError(`${where}.port: a port number`);
    const from = text(o['from'], `${where}.from`);
    if (!EMAIL.test(from.replace(/^.*<([^>]+)>\s*$/, '$1')))
      throw new InputError(`${where}.from: an e-mail address`);
    return {
      type: 'email',
      host: text(o['host'], `${where}.host`),
      port,
      secure,
      ...(o['user'] !== undefined ? { user: text(o['user'], `${where}.user`) } : {}),
      ...(o['password'] !== undefined
        ? { password: reference(o['password'], `${where}.password`, organisationId) }
        : {}),
      from,
    };
  }
  throw new InputError(`${where}.type: webhook or email`);
}

/**
 * Checks routes against an organisation's channels and persons; `where` prefixes every message.
 * Used for the operator's defaults and for what the admin sends alike.
 */
export function checkRoutes(
  value: unknown,
  org: Pick<OrganisationNotifications, 'channels' | 'persons'>,
  where: string,
): NotificationRoutes {
  const o = object(value, where);
  const out: NotificationRoutes = {};
  for (const [event, list] of Object.entries(o)) {
    if (!NOTIFY_EVENTS.includes(event as NotifyEventName))
      throw new InputError(`${where}.${event}: not an event (events: ${NOTIFY_EVENTS.join(', ')})`);
    if (!Array.isArray(list)) throw new InputError(`${where}.${event}: a list of { channel, to }`);
    if (list.length > 10) throw new InputError(`${where}.${event}: at most 10 routes`);
    out[event as NotifyEventName] = list.map((item, i) => {
      const at = `${where}.${event}[${i}]`;
      const r = typeof item === 'string' ? { channel: item } : object(item, at);
      only(r, ['channel', 'to'], at);
      const channel = text(r['channel'], `${at}.channel`);
      const found = org.channels[channel];
      if (!found) {
        const known = Object.keys(org.channels);
        throw new InputError(
          `${at}.channel: no channel "${channel}" (${known.length ? `channels: ${known.join(', ')}` : 'the operator has set no channel for this organisation'})`,
        );
      }
      if (r['to'] === undefined) return { channel };
      if (found.type !== 'email') throw new InputError(`${at}.to: only e-mail channels have recipients`);
      if (!Array.isArray(r['to']) || r['to'].length === 0 || r['to'].length > 50)
        throw new InputError(`${at}.to: a list of 1 to 50 person names, "approvers" or "everyone"`);
      const to = r['to'].map((who, j) => {
        const name = text(who, `${at}.to[${j}]`);
        if (!(RECIPIENT_GROUPS as readonly string[]).includes(name) && !org.persons[name])
          throw new InputError(
            `${at}.to[${j}]: "${name}" is not "approvers", "everyone" or a person with an e-mail address in the operator's settings`,
          );
        return name;
      });
      return { channel, to };
    });
  }
  return out;
}

/** The operator's notification settings (SUNSET_NOTIFICATIONS_FILE, YAML or JSON); `source` names it in errors. */
export function parseNotificationSettings(content: string, source: string): NotificationSettings {
  let doc: unknown;
  try {
    doc = parseYaml(content);
  } catch (err) {
    throw new InputError(`${source}: not YAML or JSON (${(err as Error).message.split('\n')[0]})`);
  }
  const root = object(doc ?? {}, source);
  only(root, ['dashboardUrl', 'organisations'], source);
  let dashboardUrl: string | undefined;
  if (root['dashboardUrl'] !== undefined) {
    const raw = text(root['dashboardUrl'], `${source}: dashboardUrl`);
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      throw new InputError(`${source}: dashboardUrl: not a URL`);
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:')
      throw new InputError(`${source}: dashboardUrl: an http or https address`);
    dashboardUrl = u.href.endsWith('/') ? u.href : `${u.href}/`;
  }
  const organisations: Record<string, OrganisationNotifications> = {};
  for (const [id, value] of Object.entries(object(root['organisations'] ?? {}, `${source}: organisations`))) {
    const where = `${source}: organisations.${id}`;
    if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(id)) throw new InputError(`${where}: not an organisation id`);
    const o = object(value, where);
    only(o, ['persons', 'channels', 'routes'], where);
    const persons: Record<string, { email: string }> = {};
    for (const [name, p] of Object.entries(object(o['persons'] ?? {}, `${where}.persons`))) {
      const at = `${where}.persons.${name}`;
      if (!PERSON.test(name) || (RECIPIENT_GROUPS as readonly string[]).includes(name))
        throw new InputError(`${at}: not a person's name`);
      const po = object(p, at);
      only(po, ['email'], at);
      const email = text(po['email'], `${at}.email`);
      if (!EMAIL.test(email)) throw new InputError(`${at}.email: not an e-mail address`);
      persons[name] = { email };
    }
    const channels: Record<string, NotificationChannel> = {};
    for (const [name, c] of Object.entries(object(o['channels'] ?? {}, `${where}.channels`))) {
      if (!isChannelName(name))
        throw new InputError(`${where}.channels.${name}: a channel name is a-z, 0-9 and "-", up to 40`);
      channels[name] = channelOf(c, `${where}.channels.${name}`, id);
    }
    const routes = checkRoutes(o['routes'] ?? {}, { channels, persons }, `${where}.routes`);
    organisations[id] = { persons, channels, routes };
  }
  return { ...(dashboardUrl ? { dashboardUrl } : {}), organisations };
}

const ROUTES_KEY = 'notifications.routes';

/** The routes in force: the admin's when set, the operator's defaults otherwise. */
export async function notificationRoutes(
  store: Store,
  settings: NotificationSettings,
  organisationId: string,
): Promise<{ routes: NotificationRoutes; setBy: 'admin' | 'operator' }> {
  const org = settings.organisations[organisationId];
  const stored = await store.kv.get(organisationId, ROUTES_KEY);
  if (stored !== undefined && org) {
    try {
      // Checked again: the operator may have removed a channel or a person since.
      return { routes: checkRoutes(JSON.parse(stored), org, 'routes'), setBy: 'admin' };
    } catch {
      return { routes: org.routes, setBy: 'operator' };
    }
  }
  return { routes: org?.routes ?? {}, setBy: 'operator' };
}

/** The admin's routes, checked, stored and audited; an error changes nothing. */
export async function setNotificationRoutes(
  store: Store,
  settings: NotificationSettings,
  input: { organisationId: string; routes: unknown; actor: string; person: string; requestId?: string },
): Promise<NotificationRoutes> {
  const org = settings.organisations[input.organisationId] ?? { channels: {}, persons: {}, routes: {} };
  const routes = checkRoutes(input.routes, org, 'routes');
  const before = await notificationRoutes(store, settings, input.organisationId);
  await store.transaction(async (tx) => {
    await tx.kv.set(input.organisationId, ROUTES_KEY, JSON.stringify(routes));
    await tx.audit.append({
      organisationId: input.organisationId,
      actor: input.actor,
      action: 'notifications.routes-set',
      ...(input.requestId ? { requestId: input.requestId } : {}),
      outcome: 'ok',
      before: before.routes,
      after: routes,
      details: { person: input.person },
    });
  });
  return routes;
}

/** What people may see of a channel: its kind and where it goes, never a secret. */
export function describeChannel(channel: NotificationChannel): Record<string, unknown> {
  if (channel.type === 'email')
    return { type: 'email', host: channel.host, port: channel.port, from: channel.from };
  const ref = channel.url.startsWith('env:') || channel.url.startsWith('file:');
  return { type: 'webhook', host: ref ? '(address kept as a secret)' : new URL(channel.url).host };
}

/** Roles whose holders can approve what an event waits for. */
export function approverRoles(event: NotifyEventName): TokenRole[] {
  return event === 'post.awaiting-approval' ? ['editor', 'admin'] : ['crisis', 'admin'];
}

/** An event for the team. */
export interface NotifyEvent {
  organisationId: string;
  event: NotifyEventName;
  postId?: string;
  deliveryId?: string;
  /** What makes this occurrence unique (a post id, a delivery's job id): the same key is told once. */
  key: string;
}

/** Job ids are letters, digits and . _ ~ - only. */
function jobKey(s: string): string {
  return s.replace(/[^A-Za-z0-9._~-]/g, '_').slice(0, 180);
}

/** Hands the event to the notifier; a failure is logged, never thrown: no post waits for it. */
export async function notify(queues: Queues | undefined, event: NotifyEvent, logger?: Logger): Promise<void> {
  if (!queues) return;
  try {
    await queues.notify(
      'notify',
      {
        organisationId: event.organisationId,
        event: event.event,
        ...(event.postId ? { postId: event.postId } : {}),
        ...(event.deliveryId ? { deliveryId: event.deliveryId } : {}),
      },
      jobKey(`${event.event}.${event.organisationId}.${event.key}`),
    );
  } catch (err) {
    logger?.warn(
      { err: (err as Error).message, event: event.event, organisationId: event.organisationId },
      'could not queue a notification',
    );
  }
}
