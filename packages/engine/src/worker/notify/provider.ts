/**
 * One interface for every notification channel: the notifier builds a message once and hands it
 * to the channel's provider, which sends it or throws a NotificationError saying whether a retry
 * can mend it.
 */
import { SunsetError } from '@sunset/core';
import type { Network } from '@sunset/core';
import type { NotifyEventName } from '@sunset/queue';

/** What the team is told: the same for every channel, each renders what it can. */
export interface NotificationMessage {
  event: NotifyEventName;
  organisationId: string;
  /** One line: an e-mail's subject, a chat message's first line. */
  title: string;
  /** The whole message as plain text (chat webhooks show this). */
  text: string;
  postId?: string;
  deliveryId?: string;
  /** The post's text, where the event is about a post. */
  post?: string;
  links: { approve?: string; approveApi?: string; post?: string };
  networks?: { network: Network; status: string; url?: string; error?: string }[];
  reason?: string;
  checklist?: string[];
}

export interface SendOutcome {
  /** What the audit log keeps of the send: a status, a message id; never a secret. */
  detail: Record<string, unknown>;
}

export interface NotificationProvider {
  send(
    message: NotificationMessage,
    meta: { id: string; recipients: { person: string; email: string }[] },
  ): Promise<SendOutcome>;
}

/** A send that failed; `retryable` false when only a person can mend it (settings, a refusal). */
export class NotificationError extends SunsetError {
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean, options?: ErrorOptions) {
    super('engine.notification', message, options);
    this.retryable = retryable;
  }
}
