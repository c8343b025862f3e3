/**
 * Identity checks: what keeps the organisation's name safe once it has left X. The Bluesky
 * handle's domain must prove the account (a DNS TXT record `_atproto.<domain>` = `did=…`, or
 * `https://<domain>/.well-known/atproto-did`) with the DID its PDS gives; each link of a
 * Mastodon profile must link back with rel="me", or Mastodon shows it unverified. DNS goes
 * through a resolver the caller gives (servers of its choice); pages through the guarded client.
 */
import type { Resolver as DnsResolver } from 'node:dns/promises';
import { mastodonProfileUrl, type PlanDocument } from '@sunset/plan';
import { Parser } from 'htmlparser2';
import type { GuardedClient } from '../http/guarded-client.ts';
import { shareLexicons } from '../patches/atproto-lexicons.ts';

export type IdentityStatus = 'ok' | 'failed' | 'unknown';

export interface IdentityResult {
  check: 'bluesky-domain' | 'mastodon-link' | 'x-profile';
  subject: string;
  status: IdentityStatus;
  message: string;
}

export interface IdentityOptions {
  /** Where TXT records are asked (a node:dns Resolver with the servers to ask). */
  dns: Pick<DnsResolver, 'resolveTxt'>;
  /** Every page and well-known file is read through it. */
  client: GuardedClient;
  timeoutMs?: number;
}

const PAGE_BYTES = 1_000_000;
const DID = /^did:[a-z]+:[A-Za-z0-9._:%-]+$/;

/** The DID the domain names: its TXT record first, its well-known file when DNS has none. */
async function domainDid(
  domain: string,
  options: IdentityOptions,
): Promise<{ did?: string; via: string; problem?: string }> {
  let records: string[][] = [];
  try {
    records = await options.dns.resolveTxt(`_atproto.${domain}`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTFOUND' && code !== 'ENODATA')
      return { via: 'DNS', problem: `DNS did not answer for _atproto.${domain} (${code ?? 'error'})` };
  }
  const dids = records.map((r) => r.join('')).filter((t) => t.startsWith('did='));
  if (dids.length > 1)
    return {
      via: 'DNS',
      problem: `_atproto.${domain} has ${dids.length} did= records; Bluesky takes exactly one`,
    };
  if (dids[0]) return { did: dids[0].slice(4), via: `DNS TXT _atproto.${domain}` };
  const url = `https://${domain}/.well-known/atproto-did`;
  try {
    const res = await options.client.get(url, {
      timeoutMs: options.timeoutMs ?? 10_000,
      maxBytes: 2048,
      accept: 'text/plain',
    });
    if (res.status !== 200)
      return { via: url, problem: `no _atproto TXT record, and ${url} answers ${res.status}` };
    return { did: new TextDecoder().decode(res.body).trim(), via: url };
  } catch (err) {
    return {
      via: url,
      problem: `no _atproto TXT record, and ${url} cannot be read (${(err as Error).message})`,
    };
  }
}

async function blueskyDomain(
  doc: PlanDocument,
  options: IdentityOptions,
): Promise<IdentityResult | undefined> {
  const bluesky = doc.networks.bluesky;
  if (!bluesky) return undefined;
  const handle = bluesky.handle.replace(/^@/, '').toLowerCase();
  const subject = `@${handle}`;
  const result = (status: IdentityStatus, message: string): IdentityResult => ({
    check: 'bluesky-domain',
    subject,
    status,
    message,
  });
  let expected: string;
  const service = bluesky.service ?? 'https://bsky.social';
  try {
    // Loaded here, not at import: a worker that serves no Bluesky account never loads the client.
    const { AtpAgent } = await import('@atproto/api');
    const agent = new AtpAgent({ service });
    // Shared as the connectors' agents are, so that the next agent builds its collections cheaply.
    shareLexicons(agent);
    // The PDS answers for its own accounts from its records, not from the domain being checked.
    const { data } = await agent.com.atproto.identity.resolveHandle({ handle });
    expected = data.did;
  } catch (err) {
    return result(
      'unknown',
      `${service} does not say which account ${subject} is (${(err as Error).message})`,
    );
  }
  const found = await domainDid(handle, options);
  if (found.problem) return result('failed', `${found.problem}: the handle is not proved`);
  if (!found.did || !DID.test(found.did)) return result('failed', `${found.via} does not hold a DID`);
  if (found.did !== expected)
    return result(
      'failed',
      `${found.via} names ${found.did}, but the account is ${expected}: someone else may hold the domain's proof`,
    );
  return result('ok', `${found.via} names ${expected}, the account on ${service}`);
}

/** rel="me" links (a and link elements) of a page. */
function relMeLinks(html: string, base: string): string[] {
  const out: string[] = [];
  const parser = new Parser({
    onopentag(name, attrs) {
      if (name !== 'a' && name !== 'link') return;
      const rel = (attrs['rel'] ?? '').toLowerCase().split(/\s+/);
      if (!rel.includes('me') || !attrs['href']) return;
      try {
        out.push(new URL(attrs['href'], base).href);
      } catch {
        // Not a URL: not a back-link either.
      }
    },
  });
  parser.write(html);
  parser.end();
  return out;
}

/** The links a Mastodon profile shows: the URL values of its fields in the plan, and the website. */
function mastodonLinks(doc: PlanDocument): string[] {
  const fields = doc.dormant_profile?.mastodon?.fields ?? [];
  const urls = fields.map((f) => f.value).filter((v) => /^https?:\/\/\S+$/.test(v));
  if (doc.organisation.website) urls.push(doc.organisation.website);
  return [...new Set(urls)];
}

async function mastodonLink(
  profile: string,
  link: string,
  options: IdentityOptions,
): Promise<IdentityResult> {
  const result = (status: IdentityStatus, message: string): IdentityResult => ({
    check: 'mastodon-link',
    subject: link,
    status,
    message,
  });
  try {
    const res = await options.client.get(link, {
      timeoutMs: options.timeoutMs ?? 10_000,
      maxBytes: PAGE_BYTES,
      truncate: true,
      accept: 'text/html',
    });
    if (res.status !== 200)
      return result('failed', `${link} answers ${res.status}: Mastodon cannot verify it`);
    const links = relMeLinks(new TextDecoder().decode(res.body), res.url);
    const wanted = new URL(profile).href;
    if (links.includes(wanted)) return result('ok', `${link} links back to ${profile} with rel="me"`);
    return result(
      'failed',
      `${link} has no rel="me" link to ${profile}: Mastodon shows the link unverified; add <a rel="me" href="${profile}"> to the page`,
    );
  } catch (err) {
    return result('unknown', `${link} cannot be read (${(err as Error).message})`);
  }
}

export async function checkIdentity(doc: PlanDocument, options: IdentityOptions): Promise<IdentityResult[]> {
  const results: IdentityResult[] = [];
  const domain = await blueskyDomain(doc, options);
  if (domain) results.push(domain);
  const mastodon = doc.networks.mastodon;
  if (mastodon) {
    const profile = mastodonProfileUrl(mastodon.account, mastodon.instance);
    for (const link of mastodonLinks(doc)) results.push(await mastodonLink(profile, link, options));
  }
  return results;
}
