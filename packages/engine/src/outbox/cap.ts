/**
 * A CAP alert (1.2 or 1.1) as a crisis post: the info block in the first language of the plan's
 * list gives the text (its headline, description, instruction and web); the alert's own key
 * makes a resent alert the same post; Update and Cancel find their original through
 * `references`, among the posts stored, and one without <info> says the plan's standard sentence.
 * The send and the preview both come through here, so they read an alert the same way.
 */
import {
  awarenessOf,
  awarenessText,
  capKey,
  capLanguages,
  capNoticeText,
  capText,
  charsetOf,
  chooseInfo,
  parseCap,
  type CapAlert,
} from '@sunset/cap';
import { SunsetError } from '@sunset/core';
import type { PlanDocument } from '@sunset/plan';
import type { Store } from '@sunset/store';
import { postIdForKey } from './posts.ts';
import type { SubmitPostInput } from './post-types.ts';

/** The media types a CAP alert arrives as. */
export const CAP_TYPES = ['application/cap+xml', 'application/xml', 'text/xml'];

/** A CAP Update or Cancel whose <references> name no alert received here: nothing to follow up. */
export class CapReferenceError extends SunsetError {
  constructor(message: string) {
    super('unknown-reference', message);
  }
}

/**
 * The submission a CAP document makes (parseCap refuses a malformed one with a CapError; the
 * charset of `contentType`, the request's, reads a document that declares no encoding). The
 * newest referenced alert that this deployment posted is the one an Update or Cancel answers.
 * What was repaired or chosen in the sender's stead is said in `notes`.
 */
export async function capSubmission(
  store: Store,
  body: Uint8Array,
  plan: Pick<PlanDocument, 'organisation' | 'crisis'>,
  common: CapCommon,
  contentType?: string,
): Promise<SubmitPostInput> {
  const charset = charsetOf(contentType);
  return capAlertSubmission(store, parseCap(body, charset ? { charset } : {}), plan, common);
}

type CapCommon = Pick<SubmitPostInput, 'organisationId' | 'actor' | 'person' | 'requestId' | 'planVersion'>;

/** The submission an alert already parsed makes (one a CAP feed carried): as capSubmission. */
export async function capAlertSubmission(
  store: Store,
  alert: CapAlert,
  plan: Pick<PlanDocument, 'organisation' | 'crisis'>,
  common: CapCommon,
): Promise<SubmitPostInput> {
  const locale = plan.organisation.locale;
  const settings = plan.crisis?.cap;
  const languages = capLanguages(locale, settings?.languages);
  let replyToPostId: string | undefined;
  for (const ref of [...alert.references].reverse()) {
    const id = postIdForKey('cap', common.organisationId, `cap:${capKey(ref)}`);
    if (await store.posts.get(common.organisationId, id)) {
      replyToPostId = id;
      break;
    }
  }
  const choice = chooseInfo(alert, languages);
  // An Update or Cancel without <info> only makes sense under the alert it follows up.
  if ((alert.msgType === 'Cancel' || (alert.msgType === 'Update' && !choice)) && !replyToPostId) {
    const count = alert.references.length;
    throw new CapReferenceError(
      count === 0
        ? `a CAP ${alert.msgType} must name the alert it follows up in <references>`
        : `this ${alert.msgType} references ${count === 1 ? 'an alert' : `${count} alerts`} not received here: nothing to ${alert.msgType === 'Cancel' ? 'cancel' : 'update'}`,
    );
  }
  const notes: string[] = [];
  let text: string;
  let language = locale;
  if (choice) {
    const { info } = choice;
    if (choice.matched === undefined) {
      notes.push(`CAP: no <info> in ${languages.join(' or ')}; posted the block in ${info.language}`);
    }
    notes.push(...info.warnings.map((w) => `CAP ${w.path}: ${w.message}`));
    // MeteoAlarm's awareness level and type say what a block without a headline is about.
    const awareness = info.headline === undefined ? awarenessText(awarenessOf(info), locale) : undefined;
    text = capText(awareness === undefined ? info : { ...info, headline: awareness }, {
      msgType: alert.msgType,
      language: locale,
    });
    language = info.language;
  } else if (alert.msgType === 'Cancel' || alert.msgType === 'Update') {
    const own = alert.msgType === 'Cancel' ? settings?.cancel_text : settings?.update_text;
    text = own ?? capNoticeText(alert.msgType, locale);
  } else {
    // Ack and Error are recorded only; they carry nothing for the public.
    text = `CAP ${alert.msgType} ${alert.identifier}`;
  }
  const info = choice?.info;
  return {
    ...common,
    source: 'crisis',
    text,
    ...(info?.web ? { link: info.web } : {}),
    language,
    ...(replyToPostId ? { replyToPostId } : {}),
    cap: {
      identifier: alert.identifier,
      sender: alert.sender,
      sent: alert.sent,
      status: alert.status,
      msgType: alert.msgType,
      ...(alert.references.length ? { references: alert.references.map(capKey) } : {}),
      ...(info?.expires ? { expires: info.expires } : {}),
    },
    ...(notes.length ? { notes } : {}),
    ...(!choice && (alert.msgType === 'Cancel' || alert.msgType === 'Update') ? { noticeOnly: true } : {}),
    clientKey: `cap:${capKey(alert)}`,
  };
}
