/**
 * A CAP 1.2 alert as a crisis post: the info block in the plan's language gives the text (its
 * headline, description, instruction and web); the alert's own key makes a resent alert the
 * same post; Update and Cancel find their original through `references`, among the posts stored.
 */
import { capKey, capText, parseCap, pickInfo } from '@sunset/cap';
import { SunsetError } from '@sunset/core';
import type { Store } from '@sunset/store';
import { postIdForKey } from './posts.ts';
import type { SubmitPostInput } from './post-types.ts';

/** The media types a CAP alert arrives as. */
export const CAP_TYPES = ['application/cap+xml', 'application/xml', 'text/xml'];

/** A CAP Cancel whose <references> name no alert received here: there is nothing to cancel. */
export class CapReferenceError extends SunsetError {
  constructor(message: string) {
    super('unknown-reference', message);
  }
}

/**
 * The submission a CAP document makes (parseCap refuses a malformed one with a CapError). The
 * newest referenced alert that this deployment posted is the one an Update or Cancel answers.
 */
export async function capSubmission(
  store: Store,
  body: Uint8Array,
  locale: string,
  common: { organisationId: string; actor: string; person?: string; requestId?: string },
): Promise<SubmitPostInput> {
  const alert = parseCap(body);
  const info = pickInfo(alert, locale);
  let replyToPostId: string | undefined;
  for (const ref of [...alert.references].reverse()) {
    const id = postIdForKey('cap', common.organisationId, `cap:${capKey(ref)}`);
    if (await store.posts.get(common.organisationId, id)) {
      replyToPostId = id;
      break;
    }
  }
  if (alert.msgType === 'Cancel' && !replyToPostId) {
    throw new CapReferenceError(
      alert.references.length === 0
        ? 'a CAP Cancel must name the alert it cancels in <references>'
        : `this Cancel references no alert received here (${alert.references.map(capKey).join(' ')}): nothing to cancel`,
    );
  }
  return {
    ...common,
    source: 'crisis',
    text: capText(info, { msgType: alert.msgType }),
    ...(info.web ? { link: info.web } : {}),
    ...(info.language ? { language: info.language } : {}),
    ...(replyToPostId ? { replyToPostId } : {}),
    cap: {
      identifier: alert.identifier,
      sender: alert.sender,
      sent: alert.sent,
      status: alert.status,
      msgType: alert.msgType,
      ...(alert.references.length ? { references: alert.references.map(capKey) } : {}),
    },
    clientKey: `cap:${capKey(alert)}`,
  };
}
