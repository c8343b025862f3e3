/**
 * CAP as alerting systems publish it, through the real API and store: national feeds with a
 * stylesheet, IPAWS-style Cancels without <info>, relative <web> links, MeteoAlarm's several
 * languages and AllClear, CAP 1.1 and ISO-8859-1, expired alerts, and a preview that reads CAP
 * exactly as the send does without ever echoing the request body in an error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CAP_ALERT, ORG, planYaml, startFixture, type Fixture } from './fixture.ts';

const SENDER = 'alerte@indre-et-loire.gouv.fr';
const SENT = '2026-12-01T08:00:00+01:00';

/** A CAP date-time a number of milliseconds from now, rounded up to the next whole second. */
function capTime(fromNowMs: number): { text: string; ms: number } {
  const ms = Math.ceil((Date.now() + fromNowMs) / 1000) * 1000;
  return { text: `${new Date(ms).toISOString().slice(0, 19)}-00:00`, ms };
}

/** A national warning service's alert, served with a stylesheet so browsers render it. */
const STYLED_ALERT = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<?xml-stylesheet type="text/xsl" href="https://vigilance.meteo.example/cap/cap.xsl"?>
<!-- Published by the national warning service -->
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>2.49.0.0.250.0.FR.20261201080000.37-orages</identifier>
  <sender>vigilance@meteo.example</sender>
  <sent>2026-12-01T08:00:00+01:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>fr-FR</language>
    <category>Met</category>
    <event>Orages</event>
    <responseType>Monitor</responseType>
    <urgency>Future</urgency>
    <severity>Moderate</severity>
    <certainty>Likely</certainty>
    <senderName>Service national de vigilance</senderName>
    <headline>Vigilance jaune orages sur l'Indre-et-Loire</headline>
    <description>Des orages parfois forts sont attendus en soirée.</description>
    <web>https://vigilance.meteo.example/37</web>
    <area><areaDesc>Indre-et-Loire</areaDesc><geocode><valueName>NUTS3</valueName><value>FRB04</value></geocode></area>
  </info>
</alert>`;

/** An IPAWS-style Cancel: no <info>, only the reference to the alert it withdraws. */
const ipawsCancel = (id: string, original: string) => `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>${id}</identifier>
  <sender>${SENDER}</sender>
  <sent>2026-12-01T11:30:00+01:00</sent>
  <status>Actual</status>
  <msgType>Cancel</msgType>
  <source>Préfecture d'Indre-et-Loire</source>
  <scope>Public</scope>
  <code>IPAWSv1.0</code>
  <note>Alerte levée par l'autorité</note>
  <references>${SENDER},${original},${SENT}</references>
</alert>`;

/** MeteoAlarm's shape: one <info> per language, each with its awareness parameters. */
const meteoalarmInfo = (lang: string, headline: string, extra = '') => `
  <info>
    <language>${lang}</language>
    <category>Met</category>
    <event>${headline.split(' ')[0]}</event>
    <responseType>${extra || 'Monitor'}</responseType>
    <urgency>Immediate</urgency>
    <severity>Moderate</severity>
    <certainty>Likely</certainty>
    <onset>2026-12-01T12:00:00+01:00</onset>
    <senderName>MeteoAlarm</senderName>
    <headline>${headline}</headline>
    <description>${headline}.</description>
    <parameter><valueName>awareness_level</valueName><value>2; yellow; Moderate</value></parameter>
    <parameter><valueName>awareness_type</valueName><value>3; Thunderstorm</value></parameter>
    <area><areaDesc>Indre-et-Loire</areaDesc><geocode><valueName>EMMA_ID</valueName><value>FR372</value></geocode></area>
  </info>`;
const meteoalarm = (
  id: string,
  infos: string,
  msgType = 'Alert',
  refs = '',
) => `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>2.49.0.0.250.0.FR.${id}</identifier>
  <sender>http://www.meteofrance.example</sender>
  <sent>${SENT}</sent>
  <status>Actual</status>
  <msgType>${msgType}</msgType>
  <scope>Public</scope>${refs ? `\n  <references>${refs}</references>` : ''}${infos}
</alert>`;

let f: Fixture;
beforeAll(async () => {
  f = await startFixture();
});
afterAll(async () => {
  await f.close();
});

const send = (
  g: Fixture,
  payload: string | Buffer,
  url = '/v1/crisis',
  role: 'crisis' | 'crisis2' = 'crisis',
) =>
  g.app.inject({
    method: 'POST',
    url,
    headers: { ...g.auth(role), 'content-type': 'application/cap+xml' },
    payload,
  });

const blueskyText = async (g: Fixture, postId: string) => {
  const [d] = await g.store.deliveries.list({ organisationId: ORG, postId, network: 'bluesky' });
  return d?.parts.map((p) => p.text).join('\n') ?? '';
};

describe('CAP in the wild, through POST /v1/crisis', () => {
  it('takes an alert with an xml-stylesheet instruction and still refuses a DTD', async () => {
    const r = await send(f, STYLED_ALERT);
    expect(r.statusCode).toBe(202);
    expect(await blueskyText(f, r.json().id)).toMatch(/Vigilance jaune orages/);
    const withDtd = STYLED_ALERT.replace(
      '<!-- Published',
      '<!DOCTYPE alert [<!ENTITY x "y">]><!-- Published',
    );
    const refused = await send(f, withDtd);
    expect(refused.statusCode).toBe(422);
    expect(refused.json().error.message).toMatch(/DOCTYPE/);
  });

  it('posts an alert whose text carries invisible characters X refuses, without them', async () => {
    // A byte-order mark pasted into the headline and a zero-width no-break space between words,
    // as word processors leave them: X would refuse the whole crisis for either.
    const pasted = STYLED_ALERT.replace('37-orages<', '37-orages-pasted<')
      .replace('<headline>Vigilance', '<headline>\uFEFFVigilance')
      .replace('Des orages parfois', 'Des orages\uFEFF parfois');
    const r = await send(f, pasted);
    expect(r.statusCode, r.body).toBe(202);
    const [x] = await f.store.deliveries.list({ organisationId: ORG, postId: r.json().id, network: 'x' });
    const text = x?.parts.map((p) => p.text).join('\n') ?? '';
    expect(text).toMatch(/Vigilance jaune orages[^]*Des orages parfois forts/);
    expect(text).not.toMatch(/\uFEFF/);
  });

  it('posts the standard reply under the original for a Cancel without <info>', async () => {
    const original = await send(f, CAP_ALERT({ id: 'ipaws-1' }));
    expect(original.statusCode).toBe(202);
    const cancel = await send(f, ipawsCancel('ipaws-1-cancel', 'ipaws-1'));
    expect(cancel.statusCode).toBe(202);
    const post = await f.store.posts.get(ORG, cancel.json().id);
    expect(post?.replyToPostId).toBe(original.json().id);
    expect(await blueskyText(f, cancel.json().id)).toMatch(/^🔴 ALERTE Alerte levée\./);
  });

  it('posts an Update without <info> as a reply too, and refuses one that names no alert here', async () => {
    const original = await send(f, CAP_ALERT({ id: 'upd-noinfo-1' }));
    const update = await send(
      f,
      ipawsCancel('upd-noinfo-2', 'upd-noinfo-1').replace('<msgType>Cancel', '<msgType>Update'),
    );
    expect(update.statusCode).toBe(202);
    expect((await f.store.posts.get(ORG, update.json().id))?.replyToPostId).toBe(original.json().id);
    expect(await blueskyText(f, update.json().id)).toMatch(/L'alerte a été mise à jour\./);
    const orphan = await send(
      f,
      ipawsCancel('upd-noinfo-3', 'never-sent').replace('<msgType>Cancel', '<msgType>Update'),
    );
    expect(orphan.statusCode).toBe(422);
  });

  it('says the plan’s own cancel text, and English for an English plan', async () => {
    const plan = planYaml().replace(
      'approval: none\n',
      'approval: none\n  cap:\n    cancel_text: "Fin de l’alerte crue : la circulation reprend."\n',
    );
    const g = await startFixture({}, plan);
    const english = await startFixture({}, planYaml().replace('locale: fr-FR', 'locale: en-GB'));
    try {
      await send(g, CAP_ALERT({ id: 'own-1' }));
      const own = await send(g, ipawsCancel('own-1-c', 'own-1'));
      expect(own.statusCode).toBe(202);
      expect(await blueskyText(g, own.json().id)).toMatch(/Fin de l’alerte crue : la circulation reprend\./);
      await send(english, CAP_ALERT({ id: 'en-1' }));
      const en = await send(english, ipawsCancel('en-1-c', 'en-1'));
      expect(await blueskyText(english, en.json().id)).toMatch(/This alert has been cancelled\./);
    } finally {
      await g.close();
      await english.close();
    }
  });

  it('repairs a <web> without a scheme and drops a relative one, saying so, never the alert', async () => {
    const bare = await send(
      f,
      CAP_ALERT({ id: 'web-1' }).replace('https://www.indre-et-loire.gouv.fr/crue', 'www.meteo.example/37'),
    );
    expect(bare.statusCode).toBe(202);
    expect(bare.json().notes.join('\n')).toMatch(/<web>.*https:\/\/www\.meteo\.example\/37/);
    expect(await blueskyText(f, bare.json().id)).toMatch(/https:\/\/www\.meteo\.example\/37/);
    const relative = await send(
      f,
      CAP_ALERT({ id: 'web-2' }).replace('https://www.indre-et-loire.gouv.fr/crue', '/alertes/37'),
    );
    expect(relative.statusCode).toBe(202);
    expect(relative.json().notes.join('\n')).toMatch(/<web>.*left out/);
    const text = await blueskyText(f, relative.json().id);
    expect(text).not.toMatch(/alertes\/37/);
    // The plan's crisis link stands in.
    expect(text).toMatch(/https:\/\/www\.ville\.test\/alertes/);
  });

  it('chooses the plan’s language among several, then English, never silently the first', async () => {
    const three = meteoalarm(
      'lang-1',
      meteoalarmInfo('de-DE', 'Gewitter in Indre-et-Loire') +
        meteoalarmInfo('en-GB', 'Thunderstorms in Indre-et-Loire') +
        meteoalarmInfo('fr-FR', 'Orages en Indre-et-Loire'),
    );
    const fr = await send(f, three);
    expect(fr.statusCode).toBe(202);
    expect(await blueskyText(f, fr.json().id)).toMatch(/Orages en Indre-et-Loire/);
    const noFrench = meteoalarm(
      'lang-2',
      meteoalarmInfo('de-DE', 'Gewitter in Indre-et-Loire') +
        meteoalarmInfo('en-GB', 'Thunderstorms in Indre-et-Loire'),
    );
    const en = await send(f, noFrench);
    expect(await blueskyText(f, en.json().id)).toMatch(/Thunderstorms in Indre-et-Loire/);
    const onlyGerman = await send(f, meteoalarm('lang-3', meteoalarmInfo('de-DE', 'Gewitter in Tours')));
    expect(onlyGerman.statusCode).toBe(202);
    expect(onlyGerman.json().notes.join('\n')).toMatch(/no <info> in fr-FR or en.*de-DE/);
  });

  it('follows the plan’s own list of languages', async () => {
    const g = await startFixture(
      {},
      planYaml().replace('approval: none\n', 'approval: none\n  cap:\n    languages: [fr, de]\n'),
    );
    try {
      const r = await send(
        g,
        meteoalarm(
          'lang-4',
          meteoalarmInfo('en-GB', 'Thunderstorms in Tours') + meteoalarmInfo('de-DE', 'Gewitter in Tours'),
        ),
      );
      expect(await blueskyText(g, r.json().id)).toMatch(/Gewitter in Tours/);
    } finally {
      await g.close();
    }
  });

  it('reads responseType AllClear as the end of the alert, in the plan’s language', async () => {
    const first = await send(f, meteoalarm('clear-1', meteoalarmInfo('en-GB', 'Thunderstorms over Tours')));
    const clear = await send(
      f,
      meteoalarm(
        'clear-2',
        meteoalarmInfo('en-GB', 'Thunderstorms over Tours have ended', 'AllClear'),
        'Update',
        `http://www.meteofrance.example,2.49.0.0.250.0.FR.clear-1,${SENT}`,
      ),
    );
    expect(clear.statusCode).toBe(202);
    expect((await f.store.posts.get(ORG, clear.json().id))?.replyToPostId).toBe(first.json().id);
    expect(await blueskyText(f, clear.json().id)).toMatch(
      /^🔴 ALERTE Fin de l'alerte : Thunderstorms over Tours have ended/,
    );
  });

  it('says MeteoAlarm’s awareness level and type in the plan’s language when a block has no headline', async () => {
    const bare = meteoalarmInfo('fr-FR', 'Orages').replace(/\n {4}<headline>[^<]*<\/headline>/, '');
    const r = await send(f, meteoalarm('aware-1', bare));
    expect(r.statusCode).toBe(202);
    expect(await blueskyText(f, r.json().id)).toMatch(
      /^🔴 ALERTE Vigilance jaune : Thunderstorm\n\nOrages\./,
    );
  });

  it('takes CAP 1.1, and ISO-8859-1 bytes as declared', async () => {
    const old = await send(
      f,
      CAP_ALERT({ id: 'cap11-1' })
        .replace('cap:1.2', 'cap:1.1')
        .replace('<certainty>Likely', '<certainty>Very Likely'),
    );
    expect(old.statusCode).toBe(202);
    const latin = Buffer.from(
      CAP_ALERT({ id: 'latin-1', headline: 'Crue : évacuation préventive à Saint-Cyr' }).replace(
        'encoding="UTF-8"',
        'encoding="ISO-8859-1"',
      ),
      'latin1',
    );
    const r = await send(f, latin);
    expect(r.statusCode).toBe(202);
    expect(await blueskyText(f, r.json().id)).toMatch(/évacuation préventive[\s\S]*Évitez les quais/);
  });

  it('reads an alert that declares no encoding by the charset of its Content-Type', async () => {
    // As servers send documents written in ISO-8859-1 or windows-1252 with no XML declaration.
    const undeclared = (id: string, headline: string, encoding: BufferEncoding | 'cp1252') => {
      const text = CAP_ALERT({ id, headline }).replace(/^<\?xml[^>]*\?>\s*/, '');
      if (encoding !== 'cp1252') return Buffer.from(text, encoding);
      // windows-1252 puts € at 0x80, where ISO-8859-1 has a control character.
      return Buffer.from(text.replaceAll('€', '\u0080'), 'latin1');
    };
    const post = (payload: Buffer, charset?: string) =>
      f.app.inject({
        method: 'POST',
        url: '/v1/crisis',
        headers: {
          ...f.auth('crisis'),
          'content-type': `application/cap+xml${charset ? `; charset=${charset}` : ''}`,
        },
        payload,
      });
    const latin = await post(
      undeclared('charset-1', 'Crue : évacuation à Saint-Cyr', 'latin1'),
      'ISO-8859-1',
    );
    expect(latin.statusCode, latin.body).toBe(202);
    expect(await blueskyText(f, latin.json().id)).toMatch(/Crue : évacuation à Saint-Cyr/);
    const windows = await post(
      undeclared('charset-2', 'Aide de 50 € par foyer sinistré', 'cp1252'),
      '"windows-1252"',
    );
    expect(windows.statusCode, windows.body).toBe(202);
    expect(await blueskyText(f, windows.json().id)).toMatch(/Aide de 50 € par foyer sinistré/);
    // Without a charset the bytes are read as UTF-8, which they are not: refused, saying so.
    const bare = await post(undeclared('charset-3', 'Crue : évacuation à Saint-Cyr', 'latin1'));
    expect(bare.statusCode).toBe(422);
    expect(bare.json().error.message).toMatch(/not valid UTF-8/);
  });

  it('records an expired alert without posting it, and shows it in the history', async () => {
    const expired = CAP_ALERT({ id: 'expired-1' }).replace(
      '<headline>',
      '<expires>2026-12-01T10:00:00+01:00</expires>\n    <headline>',
    );
    const r = await send(f, expired);
    expect(r.statusCode).toBe(202);
    expect(r.json()).toMatchObject({ state: 'recorded', deliveries: [] });
    expect(r.json().notes.join('\n')).toMatch(/expired .*2026-12-01T10:00:00\+01:00.*recorded, not posted/);
    const shown = await f.app.inject({ url: `/v1/crisis/${r.json().id}`, headers: f.auth('auditor') });
    expect(shown.statusCode).toBe(200);
    const audit = await f.store.audit.list({ organisationId: ORG, action: 'crisis.recorded' });
    expect(audit.some((a) => a.postId === r.json().id)).toBe(true);
  });

  it('cannot approve a crisis waiting for a second person once its alert has expired', async () => {
    const g = await startFixture({}, planYaml({ approval: 'second-person' }));
    try {
      const expires = capTime(1500);
      const soon = CAP_ALERT({ id: 'expiring-1' }).replace(
        '<headline>',
        `<expires>${expires.text}</expires>\n    <headline>`,
      );
      const r = await send(g, soon);
      expect(r.json()).toMatchObject({ state: 'awaiting-approval' });
      await expect.poll(() => Date.now() > expires.ms, { timeout: 10_000, interval: 100 }).toBe(true);
      const late = await g.app.inject({
        method: 'POST',
        url: `/v1/crisis/${r.json().id}/approve`,
        headers: g.auth('crisis2'),
      });
      expect(late.statusCode).toBe(409);
      expect(late.json().error.code).toBe('crisis-expired');
      expect(late.json().error.message).toMatch(/expired/);
      expect(await g.store.deliveries.list({ organisationId: ORG, postId: r.json().id })).toEqual([]);
    } finally {
      await g.close();
    }
  });
});

describe('characters X refuses', () => {
  it('are caught by the send and the preview, with where, and only for X', async () => {
    for (const [url, status] of [
      ['/v1/crisis', 202],
      ['/v1/crisis/preview', 200],
    ] as const) {
      for (const bad of ['\uFFFE', '\uFFFF', '\uFEFF']) {
        const r = await f.app.inject({
          method: 'POST',
          url,
          headers: f.auth('crisis'),
          payload: { text: `Coupure d’eau${bad} rue Nationale.` },
        });
        expect(r.statusCode, `${url} ${bad.codePointAt(0)}`).toBe(422);
        const code = `U+${bad.codePointAt(0)!.toString(16).toUpperCase()}`;
        expect(r.json().error.message).toMatch(
          new RegExp(`^text: .*${code.replace('+', '\\+')} at character 14.*X refuses`),
        );
      }
      const variant = await f.app.inject({
        method: 'POST',
        url,
        headers: f.auth('crisis'),
        payload: { text: 'Coupure d’eau.', variants: { x: 'Coupure\uFFFF d’eau.' } },
      });
      expect(variant.statusCode).toBe(422);
      expect(variant.json().error.message).toMatch(/^variants\.x: /);
      const elsewhere = await f.app.inject({
        method: 'POST',
        url,
        headers: f.auth('crisis'),
        payload: { text: 'Coupure d’eau\uFFFE rue Nationale.', networks: ['bluesky', 'mastodon'] },
      });
      expect(elsewhere.statusCode).toBe(status);
    }
  });
});

describe('the crisis preview reads CAP as the send does', () => {
  it('previews application/cap+xml with the text the send posts', async () => {
    for (const [i, xml] of [
      STYLED_ALERT.replace('37-orages', '37-orages-preview'),
      meteoalarm(
        'preview-1',
        meteoalarmInfo('de-DE', 'Gewitter in Tours') + meteoalarmInfo('en-GB', 'Thunderstorms in Tours'),
      ),
      CAP_ALERT({ id: 'preview-web' }).replace(
        'https://www.indre-et-loire.gouv.fr/crue',
        'www.meteo.example',
      ),
    ].entries()) {
      const shown = await send(f, xml, '/v1/crisis/preview');
      expect(shown.statusCode, `alert ${i}`).toBe(200);
      const bluesky = shown.json().networks.find((n: { network: string }) => n.network === 'bluesky');
      const sent = await send(f, xml);
      expect(sent.statusCode).toBe(202);
      expect(bluesky.parts.map((p: { text: string }) => p.text).join('\n')).toBe(
        await blueskyText(f, sent.json().id),
      );
      expect(shown.json().notes).toEqual(sent.json().notes);
    }
  });

  it('previews a Cancel without <info> and an expired alert as the send takes them', async () => {
    await send(f, CAP_ALERT({ id: 'preview-orig' }));
    const cancel = await send(f, ipawsCancel('preview-orig-c', 'preview-orig'), '/v1/crisis/preview');
    expect(cancel.statusCode).toBe(200);
    expect(cancel.json().networks[0].text).toMatch(/Alerte levée\./);
    const expired = await send(
      f,
      CAP_ALERT({ id: 'preview-exp' }).replace(
        '<headline>',
        '<expires>2026-12-01T09:00:00+01:00</expires><headline>',
      ),
      '/v1/crisis/preview',
    );
    expect(expired.json()).toMatchObject({ networks: [] });
    expect(expired.json().notes.join('\n')).toMatch(/expired/);
  });

  it('never echoes the request body in an error, whatever the body', async () => {
    const M = 'ZQXMARKER7';
    const cap = (from: string, to: string) => CAP_ALERT({ id: 'echo-1' }).replace(from, to);
    const bodies: [string, string][] = [
      ['application/json', `{"text": "${M}`],
      ['application/json', `${M} is not JSON`],
      ['application/json', `{"text": "ok", "${M}": 1}`],
      ['application/json', `{"text": "ok", "link": "${M}"}`],
      ['application/json', `{"text": "ok", "networks": ["${M}"]}`],
      ['application/json', `{"text": "ok", "replyTo": "${M}"}`],
      ['application/json', `{"text": "ok", "language": "${M}"}`],
      ['application/json', `{"text": "a\uFFFE${M}"}`],
      ['application/cap+xml', `${M}`],
      ['application/cap+xml', `<${M}>`],
      ['application/cap+xml', `<${M}/>`],
      ['application/cap+xml', `<alert xmlns="${M}"/>`],
      ['application/cap+xml', cap('<status>Actual', `<status>${M}`)],
      ['application/cap+xml', cap('<msgType>Alert', `<msgType>${M}`)],
      ['application/cap+xml', cap('2026-12-01T08:00:00+01:00', M)],
      ['application/cap+xml', cap('echo-1', `echo 1 ${M}`)],
      ['application/cap+xml', cap('<language>fr-FR', `<language>${M} x`)],
      ['application/cap+xml', cap('<category>Met', `<category>${M}`)],
      ['application/cap+xml', cap('<severity>Severe', `<severity>${M}`)],
      ['application/cap+xml', cap('<scope>Public</scope>', `<scope>Public</scope><${M}>x</${M}>`)],
      [
        'application/cap+xml',
        cap('<scope>Public</scope>', `<scope>Public</scope><references>${M}</references>`),
      ],
      [
        'application/cap+xml',
        cap('<msgType>Alert', `<msgType>Cancel`).replace(
          '<scope>Public</scope>',
          `<scope>Public</scope><references>a@b,${M},2026-12-01T08:00:00+01:00</references>`,
        ),
      ],
      ['application/cap+xml', cap('</headline>', `</${M}>`)],
      ['application/cap+xml', cap('<headline>', `<headline ${M}="1" ${M}="2">`)],
      ['application/cap+xml', cap('<headline>', `<headline>&${M};`)],
      ['application/cap+xml', cap('<headline>', `<x:headline xmlns:y="${M}">`)],
      ['application/cap+xml', cap('encoding="UTF-8"', `encoding="${M}"`)],
      ['application/cap+xml', cap('<?xml version="1.0" encoding="UTF-8"?>', `<!DOCTYPE ${M}>`)],
      ['application/cap+xml', cap('</alert>', `</alert>${M}`)],
      [
        'application/cap+xml',
        cap(
          '<web>https://www.indre-et-loire.gouv.fr/crue',
          `<web>https://www.indre-et-loire.gouv.fr/${M}<x/>`,
        ),
      ],
    ];
    for (const url of ['/v1/crisis', '/v1/crisis/preview']) {
      for (const [type, payload] of bodies) {
        const r = await f.app.inject({
          method: 'POST',
          url,
          headers: { ...f.auth('crisis'), 'content-type': type },
          payload,
        });
        const where = `${url} ${type} ${payload.slice(0, 120)}`;
        expect(r.statusCode, where).toBeGreaterThanOrEqual(400);
        expect(r.statusCode, where).toBeLessThan(500);
        expect.soft(r.body, where).not.toContain(M);
      }
    }
  });
});
