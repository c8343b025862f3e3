/**
 * The webhook channel: the message as JSON, POSTed through the guarded client (internal
 * addresses only where SUNSET_FETCH_ALLOW allows them), signed so the receiver can check it came
 * from this deployment and is not a replay:
 *
 *   X-Sunset-Timestamp: <unix seconds>
 *   X-Sunset-Signature: sha256=<hex HMAC-SHA256 over "<timestamp>.<raw body>" with the channel's key>
 *
 * `text` is what Slack and Mattermost incoming webhooks show, `body` and `msgtype` what a Matrix
 * hook bridge takes; the rest is for receivers that read the fields.
 */
import { createHmac } from 'node:crypto';
import { resolveCredential, type SecretScope } from '@sunset/core';
import { FetchRefusedError, type GuardedClient } from '@sunset/networks';
import type { WebhookChannel } from '../../../outbox/notifications.ts';
import { NotificationError, type NotificationProvider } from '../provider.ts';

/** The signature a receiver computes to check a delivery (exported for receivers' tests and docs). */
export function webhookSignature(key: string, timestamp: string, rawBody: string): string {
  return `sha256=${createHmac('sha256', key).update(`${timestamp}.${rawBody}`).digest('hex')}`;
}

export function webhookProvider(
  channel: WebhookChannel,
  scope: SecretScope,
  client: GuardedClient,
  where: string,
  timeoutMs = 10_000,
): NotificationProvider {
  return {
    async send(message, meta) {
      let url: string;
      let key: string;
      try {
        url =
          channel.url.startsWith('env:') || channel.url.startsWith('file:')
            ? resolveCredential(channel.url, scope, `${where}.url`).reveal()
            : channel.url;
        key = resolveCredential(channel.secret, scope, `${where}.secret`).reveal();
      } catch (err) {
        throw new NotificationError((err as Error).message, false, { cause: err });
      }
      const timestamp = String(Math.floor(Date.now() / 1000));
      const body = JSON.stringify({
        event: message.event,
        id: meta.id,
        organisationId: message.organisationId,
        title: message.title,
        text: message.text,
        msgtype: 'm.text',
        body: message.text,
        ...(message.postId ? { postId: message.postId } : {}),
        ...(message.deliveryId ? { deliveryId: message.deliveryId } : {}),
        ...(message.post !== undefined ? { post: message.post } : {}),
        links: message.links,
        ...(message.networks ? { networks: message.networks } : {}),
        ...(message.reason ? { reason: message.reason } : {}),
        ...(message.checklist ? { checklist: message.checklist } : {}),
        sentAt: new Date(Number(timestamp) * 1000).toISOString(),
      });
      let status: number;
      try {
        const res = await client.post(url, {
          body,
          contentType: 'application/json',
          headers: {
            'x-sunset-event': message.event,
            'x-sunset-id': meta.id,
            'x-sunset-timestamp': timestamp,
            'x-sunset-signature': webhookSignature(key, timestamp, body),
          },
          timeoutMs,
          maxBytes: 4096,
        });
        status = res.status;
      } catch (err) {
        const refused = err instanceof FetchRefusedError;
        throw new NotificationError(
          `webhook ${refused ? 'refused' : 'unreachable'}: ${(err as Error).message}`,
          !refused,
          { cause: err },
        );
      }
      if (status >= 200 && status <= 299) return { detail: { status } };
      // 408, 425, 429 and 5xx may pass later; any other answer needs a person.
      const retryable = status === 408 || status === 425 || status === 429 || status >= 500;
      throw new NotificationError(`webhook answered ${status}`, retryable);
    },
  };
}
