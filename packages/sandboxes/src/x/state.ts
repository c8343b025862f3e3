/**
 * What the X fake remembers (accounts, tokens, posts, media) and the two things posts and
 * profiles both make: snowflake ids and t.co links.
 */
import type { Account, MediaRecord, XAccessSwitch, XSandboxOptions, XSandboxPost } from './model.ts';
import { codePoints } from './protocol.ts';

// X's snowflake epoch: ids grow with time, so since_id and ordering behave as on X.
const TWITTER_EPOCH = 1288834974657n;

// Links as people write them; twitter-text would also link bare domains, the sandbox does not.
const LINK = /https?:\/\/[^\s<>"]+/g;

function trimLink(url: string): string {
  return url.replace(/[.,;:!?'")\]]+$/, '');
}

export class XState {
  url = '';
  readonly posts: XSandboxPost[] = [];
  /** The last post of each account and text, so that a duplicate is found without a scan of all. */
  readonly byText = new Map<string, XSandboxPost>();
  readonly accounts: Account[] = [];
  readonly appSecrets = new Map<string, string>();
  readonly tokens = new Map<string, { secret: string; accountId: string }>();
  readonly media = new Map<string, MediaRecord>();
  profileApi: XAccessSwitch;
  timelineApi: XAccessSwitch;
  mediaProcessing: 'sync' | 'async';
  #sequence = 0n;
  #tcoSerial = 0;

  constructor(options: XSandboxOptions) {
    this.profileApi = options.profileApi ?? 'allowed';
    this.timelineApi = options.timelineApi ?? 'allowed';
    this.mediaProcessing = options.mediaProcessing ?? 'sync';
  }

  nextId(): string {
    this.#sequence = (this.#sequence + 1n) & 0x3fffffn;
    return String(((BigInt(Date.now()) - TWITTER_EPOCH) << 22n) | this.#sequence);
  }

  tco(): string {
    this.#tcoSerial += 1;
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    let n = this.#tcoSerial * 7919 + 1_000_000;
    let slug = '';
    while (slug.length < 10) {
      slug += alphabet[n % alphabet.length];
      n = Math.floor(n / alphabet.length) + slug.length * 31;
    }
    return `https://t.co/${slug}`;
  }

  /** Links replaced by t.co ones, as X stores and returns text, with the entities to expand them. */
  shorten(text: string): { text: string; urls: XSandboxPost['urls'] } {
    const urls: XSandboxPost['urls'] = [];
    let out = '';
    let last = 0;
    for (const match of text.matchAll(LINK)) {
      const expanded = trimLink(match[0]);
      const at = match.index;
      out += text.slice(last, at);
      const tco = this.tco();
      const start = codePoints(out);
      out += tco;
      urls.push({
        start,
        end: start + codePoints(tco),
        url: tco,
        expandedUrl: expanded,
        displayUrl: expanded.replace(/^https?:\/\//, '').slice(0, 26),
      });
      last = at + expanded.length;
    }
    return { text: out + text.slice(last), urls };
  }
}
