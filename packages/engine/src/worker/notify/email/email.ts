/**
 * The e-mail channel: one message over SMTP (nodemailer) to the route's recipients, the password
 * read from the organisation's secrets at each send (a rotated one is picked up at once).
 */
import { resolveCredential, type SecretScope } from '@sunset/core';
import nodemailer from 'nodemailer';
import type { EmailChannel } from '../../../outbox/notifications.ts';
import { NotificationError, type NotificationProvider } from '../provider.ts';

export function emailProvider(
  channel: EmailChannel,
  scope: SecretScope,
  where: string,
  timeoutMs = 15_000,
): NotificationProvider {
  return {
    async send(message, meta) {
      if (meta.recipients.length === 0)
        throw new NotificationError('no recipient with an e-mail address for this event', false);
      let password: string | undefined;
      try {
        password = channel.password
          ? resolveCredential(channel.password, scope, `${where}.password`).reveal()
          : undefined;
      } catch (err) {
        throw new NotificationError((err as Error).message, false, { cause: err });
      }
      const transport = nodemailer.createTransport({
        host: channel.host,
        port: channel.port,
        secure: channel.secure,
        ...(channel.user ? { auth: { user: channel.user, pass: password ?? '' } } : {}),
        connectionTimeout: timeoutMs,
        greetingTimeout: timeoutMs,
        socketTimeout: timeoutMs,
      });
      try {
        const info = await transport.sendMail({
          from: channel.from,
          to: meta.recipients.map((r) => r.email),
          subject: message.title,
          text: message.text,
          headers: { 'X-Sunset-Event': message.event, 'X-Sunset-Id': meta.id },
        });
        return {
          detail: {
            messageId: info.messageId,
            accepted: info.accepted.length,
            rejected: info.rejected.length,
          },
        };
      } catch (err) {
        const code = (err as { responseCode?: number }).responseCode;
        // A 5xx reply is the server's final word (a refused sender or recipient); the rest may pass later.
        const retryable = code === undefined || code < 500;
        throw new NotificationError(`SMTP: ${(err as Error).message}`, retryable, { cause: err });
      } finally {
        transport.close();
      }
    },
  };
}
