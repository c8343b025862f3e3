/**
 * The "find us" page: where to follow the organisation now that it has left X, one
 * self-contained HTML file (no script, no external style, font or image: the QR codes are inline
 * SVG), in the plan's language, with the `rel="me"` links Mastodon verifies and the
 * `fediverse:creator` tag. The API serves it at /find/<org>; `sunset audience page` writes it
 * for the organisation's own website.
 */
import { createHash } from 'node:crypto';
import {
  audienceMembers,
  starterPackUrl,
  type AudienceMember,
  type AudienceRelation,
  type AudienceSource,
} from '@sunset/plan';
import QRCode from 'qrcode';

export interface FindUsPage {
  html: string;
  /** The CSP source of the page's one inline style ('sha256-…'), for a policy without 'unsafe-inline'. */
  styleSource: string;
}

/** The texts of the page, in French and in English. */
const TEXTS = {
  fr: {
    title: (org: string) => `Où suivre ${org}`,
    intro: (org: string) =>
      `${org} ne publie plus sur X. Retrouvez toutes ses informations sur Bluesky et Mastodon : voici ses comptes et ceux de ses services et partenaires.`,
    skip: 'Aller au contenu',
    colon: '\u202f: ',
    pack: 'Le pack de démarrage Bluesky',
    packLead: 'Suivez tous nos comptes Bluesky d’un coup :',
    packLink: 'Ouvrir le pack de démarrage',
    accounts: 'Nos comptes',
    qr: (what: string) => `QR code vers ${what}`,
    website: 'Site web',
    relations: {
      main: 'Compte principal',
      own: 'Autre compte',
      service: 'Service',
      mayor: 'Cabinet',
      partner: 'Partenaire',
    } satisfies Record<AudienceRelation, string>,
    footer: 'Cette page ne charge rien d’autre qu’elle-même : ni traceur, ni police, ni script.',
  },
  en: {
    title: (org: string) => `Where to follow ${org}`,
    intro: (org: string) =>
      `${org} no longer posts on X. Find all its news on Bluesky and Mastodon: here are its accounts and those of its services and partners.`,
    skip: 'Skip to content',
    colon: ': ',
    pack: 'The Bluesky starter pack',
    packLead: 'Follow all our Bluesky accounts at once:',
    packLink: 'Open the starter pack',
    accounts: 'Our accounts',
    qr: (what: string) => `QR code to ${what}`,
    website: 'Website',
    relations: {
      main: 'Main account',
      own: 'Other account',
      service: 'Service',
      mayor: "Mayor's office",
      partner: 'Partner',
    } satisfies Record<AudienceRelation, string>,
    footer: 'This page loads nothing but itself: no tracker, no font, no script.',
  },
};

/** Dark text on white, links #0b4f9c (8.6:1), muted #4a4a4a (8.9:1): above WCAG AA everywhere. */
const STYLE = `
:root{color-scheme:light}
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5;color:#1a1a1a;background:#ffffff}
.skip{position:absolute;left:-999em}
.skip:focus{left:1rem;top:1rem;background:#ffffff;padding:.5rem;outline:3px solid #0b4f9c}
header,main,footer{max-width:60rem;margin:0 auto;padding:1rem}
header p{margin:0;font-weight:700;font-size:1.1rem}
h1{font-size:2rem;margin:.5rem 0 1rem}
a{color:#0b4f9c;text-decoration:underline}
a:focus{outline:3px solid #0b4f9c;outline-offset:2px}
.pack,.account{border:1px solid #767676;border-radius:.5rem;padding:1rem;margin:1rem 0}
.accounts{list-style:none;padding:0;display:grid;gap:1rem;grid-template-columns:repeat(auto-fill,minmax(17rem,1fr))}
.accounts>li{margin:0}
.account{margin:0;height:100%}
.account h3{margin:0 0 .25rem;font-size:1.2rem}
.relation{margin:0 0 .5rem;color:#4a4a4a}
.links{list-style:none;padding:0;margin:0}
.links li{margin:.75rem 0}
.network{font-weight:700;display:block}
figure{margin:.5rem 0 0}
svg{display:block;width:10rem;height:10rem;background:#ffffff}
footer{color:#4a4a4a;font-size:.9rem}
`;

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A QR code of `url` as inline SVG, named for screen readers. */
async function qrSvg(url: string, label: string): Promise<string> {
  const svg = await QRCode.toString(url, {
    type: 'svg',
    errorCorrectionLevel: 'M',
    margin: 4,
    color: { dark: '#000000', light: '#ffffff' },
  });
  return svg.trim().replace('<svg ', `<svg role="img" aria-label="${escape(label)}" focusable="false" `);
}

function textsFor(locale: string) {
  return new Intl.Locale(locale).language === 'fr'
    ? { lang: 'fr', t: TEXTS.fr }
    : { lang: 'en', t: TEXTS.en };
}

/**
 * The page's Content-Security-Policy: nothing from elsewhere, no script, only its own style (by
 * hash) and inline images. As a <meta> (static files) without frame-ancestors, which browsers
 * take only from a header.
 */
export function findUsPolicy(styleSource: string, where: 'header' | 'meta' = 'header'): string {
  return [
    "default-src 'none'",
    `style-src ${styleSource}`,
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    ...(where === 'header' ? ["frame-ancestors 'none'"] : []),
  ].join('; ');
}

const STYLE_SOURCE = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

/**
 * Renders the page of an organisation, or undefined when its plan names no account to follow.
 * `static`: for files served by another web server, the policy goes into the page itself.
 */
export async function renderFindUsPage(
  source: AudienceSource,
  options: { static?: boolean } = {},
): Promise<FindUsPage | undefined> {
  const members = audienceMembers(source);
  if (members.length === 0) return undefined;
  const { lang, t } = textsFor(source.organisation.locale);
  const org = source.organisation.name;
  const pack = starterPackUrl(source);
  const main = members.find((m) => m.relation === 'main');
  // Mastodon verifies a profile link when the page links back with rel="me": the organisation's own accounts only.
  const meLinks = members
    .filter((m) => m.relation === 'main' || m.relation === 'own')
    .flatMap((m) => [
      ...(m.bluesky ? [`https://bsky.app/profile/${m.bluesky}`] : []),
      ...(m.mastodonUrl ? [m.mastodonUrl] : []),
    ]);

  const account = async (m: AudienceMember, i: number): Promise<string> => {
    const rel = m.relation === 'main' || m.relation === 'own' ? ' rel="me"' : '';
    const links: string[] = [];
    if (m.bluesky) {
      const url = `https://bsky.app/profile/${m.bluesky}`;
      links.push(
        `<li><span class="network">Bluesky</span><a href="${escape(url)}"${rel}>@${escape(m.bluesky)}</a>` +
          `<figure>${await qrSvg(url, t.qr(`@${m.bluesky} (Bluesky)`))}</figure></li>`,
      );
    }
    if (m.mastodon && m.mastodonUrl) {
      links.push(
        `<li><span class="network">Mastodon</span><a href="${escape(m.mastodonUrl)}"${rel}>${escape(m.mastodon)}</a>` +
          `<figure>${await qrSvg(m.mastodonUrl, t.qr(`${m.mastodon} (Mastodon)`))}</figure></li>`,
      );
    }
    if (m.website) {
      links.push(
        `<li><span class="network">${t.website}</span><a href="${escape(m.website)}">${escape(m.website.replace(/^https?:\/\//, ''))}</a></li>`,
      );
    }
    return (
      `<li><article class="account" aria-labelledby="account-${i}"><h3 id="account-${i}">${escape(m.name)}</h3>` +
      `<p class="relation">${t.relations[m.relation]}</p><ul class="links">${links.join('')}</ul></article></li>`
    );
  };

  const packName = source.audience?.starter_pack?.name ?? '';
  const packAbout = source.audience?.starter_pack?.description;
  const packSection = pack
    ? `<section class="pack" aria-labelledby="pack-title"><h2 id="pack-title">${t.pack}</h2>` +
      `<p>${escape(packName)}${packAbout ? `${t.colon}${escape(packAbout)}` : ''}</p>` +
      `<p>${t.packLead} <a href="${escape(pack)}">${t.packLink}</a></p>` +
      `<figure>${await qrSvg(pack, t.qr(t.pack))}</figure></section>`
    : '';
  const cards = await Promise.all(members.map(account));
  const head = [
    '<meta charset="utf-8">',
    ...(options.static
      ? [`<meta http-equiv="Content-Security-Policy" content="${findUsPolicy(STYLE_SOURCE, 'meta')}">`]
      : []),
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escape(t.title(org))}</title>`,
    `<meta name="description" content="${escape(t.intro(org))}">`,
    ...(main?.mastodon ? [`<meta name="fediverse:creator" content="${escape(main.mastodon)}">`] : []),
    ...meLinks.map((href) => `<link rel="me" href="${escape(href)}">`),
    `<style>${STYLE}</style>`,
  ];
  const html =
    `<!doctype html>\n<html lang="${lang}">\n<head>\n${head.join('\n')}\n</head>\n<body>\n` +
    `<a class="skip" href="#main">${t.skip}</a>\n` +
    `<header><p>${escape(org)}</p></header>\n` +
    `<main id="main">\n<h1>${escape(t.title(org))}</h1>\n<p>${escape(t.intro(org))}</p>\n` +
    `${packSection}\n` +
    `<section aria-labelledby="accounts-title"><h2 id="accounts-title">${t.accounts}</h2>\n` +
    `<ul class="accounts">${cards.join('\n')}</ul></section>\n</main>\n` +
    `<footer><p>${t.footer}</p></footer>\n</body>\n</html>\n`;
  return { html, styleSource: STYLE_SOURCE };
}
