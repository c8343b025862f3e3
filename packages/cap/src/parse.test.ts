import { describe, expect, it } from 'vitest';

import {
  BILINGUAL_ALERT,
  FLOOD_ALERT,
  FLOOD_CANCEL,
  FLOOD_UPDATE,
  PREFECTURE,
} from './fixtures.test-support.ts';
import {
  CapError,
  capKey,
  capLanguages,
  capText,
  chooseInfo,
  parseCap,
  type CapAlert,
  type CapProblem,
} from './index.ts';

const pick = (alert: CapAlert, ...languages: string[]) => chooseInfo(alert, languages)!.info;

function problemsOf(xml: string): CapProblem[] {
  try {
    parseCap(xml);
  } catch (error) {
    expect(error).toBeInstanceOf(CapError);
    return (error as CapError).problems;
  }
  throw new Error('expected parseCap to throw CapError');
}

describe('parseCap on real-looking alerts', () => {
  it('reads the prefecture flood warning with its accents, areas and every text part', () => {
    const alert = parseCap(FLOOD_ALERT);
    expect(alert).toMatchObject({
      identifier: 'PREF37-2025-0142',
      sender: PREFECTURE,
      sent: '2025-01-20T08:30:00+01:00',
      status: 'Actual',
      msgType: 'Alert',
      scope: 'Public',
      references: [],
    });
    expect(alert.infos).toHaveLength(1);
    const info = alert.infos[0];
    expect(info).toMatchObject({
      language: 'fr-FR',
      categories: ['Met', 'Safety'],
      event: 'Crue de la Loire',
      urgency: 'Expected',
      severity: 'Severe',
      certainty: 'Likely',
      headline: 'Vigilance orange crues : la Loire à Tours',
      web: 'https://www.indre-et-loire.gouv.fr/crue-loire',
      contact: "Préfecture d'Indre-et-Loire, 02 47 64 37 37",
      areas: ['Tours, Saint-Pierre-des-Corps, La Riche', 'Val de Loire en aval de Tours'],
    });
    expect(info?.description).toContain("à l'échelle de Tours (pont Wilson)");
    expect(info?.instruction).toMatch(/^Ne vous engagez pas .* Éloignez-vous des berges/);
  });

  it('gives the post text with headline, description, instruction and web in that order', () => {
    const text = capText(pick(parseCap(FLOOD_ALERT), 'fr-FR'));
    expect(text).toBe(
      [
        'Vigilance orange crues : la Loire à Tours',
        "La Loire devrait atteindre 4,50 m à l'échelle de Tours (pont Wilson) dans la soirée.\n" +
          'Débordements attendus sur les quais, à Saint-Pierre-des-Corps et à La Riche.',
        'Ne vous engagez pas sur les routes inondées. Éloignez-vous des berges et suivez les consignes des secours.',
        "Plus d'informations : https://www.indre-et-loire.gouv.fr/crue-loire",
      ].join('\n\n'),
    );
  });

  it('reads the same alert given as UTF-8 bytes, with or without a byte order mark', () => {
    const bytes = new TextEncoder().encode(FLOOD_ALERT);
    expect(parseCap(bytes)).toEqual(parseCap(FLOOD_ALERT));
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...bytes]);
    expect(parseCap(withBom)).toEqual(parseCap(FLOOD_ALERT));
  });

  it('reads an Update whose reference keys to the original alert', () => {
    const original = parseCap(FLOOD_ALERT);
    const update = parseCap(FLOOD_UPDATE);
    expect(update.msgType).toBe('Update');
    expect(update.references).toEqual([
      { sender: PREFECTURE, identifier: 'PREF37-2025-0142', sent: '2025-01-20T08:30:00+01:00' },
    ]);
    expect(capKey(update.references[0]!)).toBe(capKey(original));
    expect(capKey(original)).toBe(`${PREFECTURE},PREF37-2025-0142,2025-01-20T08:30:00+01:00`);
    expect(capText(pick(update, 'fr-FR'), { msgType: update.msgType })).toMatch(
      /^Mise à jour : Vigilance rouge crues/,
    );
  });

  it('reads a Cancel with a namespace prefix, no info block and two references', () => {
    const cancel = parseCap(FLOOD_CANCEL);
    expect(cancel.msgType).toBe('Cancel');
    expect(cancel.infos).toEqual([]);
    expect(chooseInfo(cancel, ['fr-FR', 'en'])).toBeUndefined();
    expect(cancel.references.map(capKey)).toEqual([
      capKey(parseCap(FLOOD_ALERT)),
      capKey(parseCap(FLOOD_UPDATE)),
    ]);
  });

  it('picks the French block of a bilingual alert for fr-FR, and follows the list otherwise', () => {
    const alert = parseCap(BILINGUAL_ALERT);
    expect(alert.infos.map((info) => info.language)).toEqual(['en-GB', 'fr']);
    expect(pick(alert, 'fr-FR').headline).toBe('Feu de forêt près de Chinon');
    expect(pick(alert, 'fr').event).toBe('Feu de forêt');
    expect(pick(alert, 'de-DE', 'fr').language).toBe('fr');
    expect(chooseInfo(alert, capLanguages('de-DE'))).toMatchObject({
      matched: 'en',
      info: { language: 'en-GB' },
    });
    expect(pick(alert, 'en-US').language).toBe('en-GB');
  });

  it('takes the first block only when no wanted language matches, and says so', () => {
    const swapped = parseCap(BILINGUAL_ALERT);
    const german = {
      ...swapped,
      infos: swapped.infos.map((info) => ({ ...info, language: `de-${info.language}` })),
    };
    const choice = chooseInfo(german, capLanguages('fr-FR'));
    expect(choice?.matched).toBeUndefined();
    expect(choice?.info).toBe(german.infos[0]);
    expect(capLanguages('fr-FR')).toEqual(['fr-FR', 'en']);
    expect(capLanguages('en', [])).toEqual(['en']);
    expect(capLanguages('fr-FR', ['fr', 'de', 'fr'])).toEqual(['fr', 'de']);
  });

  it('prefers an exact language match over a same-language one', () => {
    const alert = parseCap(FLOOD_ALERT);
    const first = alert.infos[0]!;
    const twoFrench = { ...alert, infos: [{ ...first, language: 'fr-CA' }, first] };
    expect(pick(twoFrench, 'fr-FR')).toBe(first);
    expect(pick(twoFrench, 'fr-be').language).toBe('fr-CA');
  });

  it('defaults an info block without <language> to en-US, as CAP says', () => {
    const alert = parseCap(FLOOD_ALERT.replace('<language>fr-FR</language>', ''));
    expect(alert.infos[0]?.language).toBe('en-US');
  });
});

describe('parseCap on wrong alerts', () => {
  it('names every problem at once, each with its path and line:column', () => {
    const broken = FLOOD_ALERT.replace('<status>Actual</status>', '<status>Real</status>')
      .replace('<sent>2025-01-20T08:30:00+01:00</sent>', '<sent>2025-01-20T07:30:00Z</sent>')
      .replace('<urgency>Expected</urgency>', '')
      .replace('<severity>Severe</severity>', '<severity>Bad</severity>')
      .replace('<identifier>PREF37-2025-0142</identifier>', '');
    const problems = problemsOf(broken);
    expect(problems).toEqual([
      { path: 'alert/identifier', message: '<identifier> is required', line: 2, column: 1 },
      expect.objectContaining({ path: 'alert/sent', line: 5, column: 3 }),
      expect.objectContaining({ path: 'alert/status', line: 6, column: 3 }),
      expect.objectContaining({ path: 'alert/info[1]/urgency', message: '<urgency> is required' }),
      expect.objectContaining({ path: 'alert/info[1]/severity', line: 16, column: 5 }),
    ]);
    expect(problems[2]?.message).toBe('is not one of Actual, Exercise, System, Test, Draft');
    expect(problems[1]?.message).toMatch(/not a CAP date-time/);
  });

  it('puts the problems in the error message a person reads', () => {
    const error = (() => {
      try {
        parseCap(FLOOD_ALERT.replace('<status>Actual', '<status>Unknown'));
      } catch (caught) {
        return caught as CapError;
      }
      throw new Error('no error');
    })();
    expect(error).toBeInstanceOf(CapError);
    expect(error.code).toBe('input');
    expect(error.message).toBe(
      'CAP alert rejected (1 problem): alert/status: is not one of Actual, Exercise, System, Test, Draft (line 6:3)',
    );
  });

  it('reads CAP 1.1, with its "Very Likely", and refuses another namespace or none', () => {
    const old = parseCap(
      FLOOD_ALERT.replace('cap:1.2"', 'cap:1.1"').replace('<certainty>Likely', '<certainty>Very Likely'),
    );
    expect(old.version).toBe('1.1');
    expect(old.infos[0]?.certainty).toBe('Likely');
    expect(parseCap(FLOOD_ALERT).version).toBe('1.2');
    // CAP 1.0's value is not CAP 1.2's.
    expect(problemsOf(FLOOD_ALERT.replace('<certainty>Likely', '<certainty>Very Likely'))[0]?.path).toBe(
      'alert/info[1]/certainty',
    );
    const other = problemsOf(FLOOD_ALERT.replace('cap:1.2"', 'cap:0.9"'));
    expect(other).toHaveLength(1);
    expect(other[0]?.message).toMatch(
      /<alert> is in another namespace; it must be in urn:oasis:names:tc:emergency:cap:1\.2/,
    );
    expect(
      problemsOf(FLOOD_ALERT.replace(' xmlns="urn:oasis:names:tc:emergency:cap:1.2"', ''))[0]?.message,
    ).toContain('in no namespace');
    expect(problemsOf('<feed xmlns="http://www.w3.org/2005/Atom"/>')[0]).toMatchObject({
      path: '*',
      message: 'root element must be <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">',
    });
  });

  it('checks sent as a CAP date-time with a real calendar date and an explicit offset', () => {
    for (const sent of [
      '2025-01-20T08:30:00Z',
      '2025-02-30T08:30:00+01:00',
      '2025-01-20 08:30:00+01:00',
      '2025-01-20T24:00:00+01:00',
      '2025-01-20T08:30:00.5+01:00',
    ]) {
      const problems = problemsOf(FLOOD_ALERT.replace('2025-01-20T08:30:00+01:00', sent));
      expect(problems.map((p) => p.path)).toEqual(['alert/sent']);
    }
    expect(parseCap(FLOOD_ALERT.replace('2025-01-20T08:30:00+01:00', '2024-02-29T07:30:00-00:00')).sent).toBe(
      '2024-02-29T07:30:00-00:00',
    );
  });

  it('refuses malformed references, naming each bad triple', () => {
    const problems = problemsOf(
      FLOOD_UPDATE.replace(
        /<references>.*<\/references>/,
        `<references>${PREFECTURE},PREF37-2025-0142 a,b,c,d x,y,2025-13-01T00:00:00+01:00</references>`,
      ),
    );
    expect(problems.map((p) => p.path)).toEqual(['alert/references', 'alert/references', 'alert/references']);
    expect(problems[0]?.message).toBe('reference 1 is not sender,identifier,sent');
    expect(problems[1]?.message).toBe('reference 2 is not sender,identifier,sent');
    expect(problems[2]?.message).toContain('not a CAP date-time');
  });

  it('requires an info block for an Alert, but not for an Update or a Cancel', () => {
    const withoutInfo = FLOOD_ALERT.replace(/<info>[\s\S]*<\/info>/, '');
    expect(problemsOf(withoutInfo)).toEqual([
      expect.objectContaining({ path: 'alert/info', message: 'an Alert needs at least one <info> block' }),
    ]);
    expect(parseCap(withoutInfo.replace('<msgType>Alert', '<msgType>Cancel')).infos).toEqual([]);
    expect(parseCap(withoutInfo.replace('<msgType>Alert', '<msgType>Update')).infos).toEqual([]);
  });

  it('refuses text over its length limit, and counts characters, not bytes', () => {
    const long = 'é'.repeat(401);
    const problems = problemsOf(
      FLOOD_ALERT.replace(/<headline>.*<\/headline>/, `<headline>${long}</headline>`),
    );
    expect(problems).toEqual([
      expect.objectContaining({
        path: 'alert/info[1]/headline',
        message: 'is 401 characters long; at most 400 are accepted',
      }),
    ]);
    const fits = parseCap(
      FLOOD_ALERT.replace(/<headline>.*<\/headline>/, `<headline>${'é'.repeat(400)}</headline>`),
    );
    expect(fits.infos[0]?.headline).toHaveLength(400);
    const description = problemsOf(
      FLOOD_ALERT.replace('La Loire devrait', `${'x'.repeat(8000)} La Loire devrait`),
    );
    expect(description[0]?.path).toBe('alert/info[1]/description');
    const instruction = problemsOf(
      FLOOD_ALERT.replace('Ne vous engagez', `${'x'.repeat(8000)} Ne vous engagez`),
    );
    expect(instruction[0]?.path).toBe('alert/info[1]/instruction');
  });

  it('refuses duplicate, unknown and misplaced elements, and empty required ones', () => {
    const problems = problemsOf(
      FLOOD_ALERT.replace(
        '<scope>Public</scope>',
        '<scope>Public</scope><scope>Private</scope><colour>red</colour><areaDesc>x</areaDesc>',
      )
        .replace('<event>Crue de la Loire</event>', '<event> </event>')
        .replace('<headline>', '<headline><b>bold</b>')
        .replace('<areaDesc>Val de Loire en aval de Tours</areaDesc>', ''),
    );
    expect(problems.map((p) => [p.path, p.message])).toEqual([
      ['alert/scope', '<scope> may appear only once'],
      // The sender's own element names are never repeated back; CAP's are.
      ['alert/*', 'an element CAP does not define'],
      ['alert/areaDesc', '<areaDesc> does not belong here in CAP'],
      ['alert/info[1]/headline', 'must contain text only, not elements'],
      ['alert/info[1]/event', 'is empty; a value is required'],
      ['alert/info[1]/area[2]/areaDesc', '<areaDesc> is required'],
    ]);
  });

  it('ignores elements of other namespaces, such as an XML signature', () => {
    const signed = FLOOD_ALERT.replace(
      '</alert>',
      '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/></Signature></alert>',
    );
    expect(parseCap(signed)).toEqual(parseCap(FLOOD_ALERT));
  });

  it('repairs a web address without a scheme and leaves out any other, keeping the alert', () => {
    const webOf = (web: string) =>
      parseCap(FLOOD_ALERT.replace(/<web>.*<\/web>/, `<web>${web}</web>`)).infos[0]!;
    const bare = webOf('www.indre-et-loire.gouv.fr/crue');
    expect(bare.web).toBe('https://www.indre-et-loire.gouv.fr/crue');
    expect(bare.warnings).toEqual([
      expect.objectContaining({
        path: 'alert/info[1]/web',
        message: '<web> has no scheme: linked as https://www.indre-et-loire.gouv.fr/crue',
      }),
    ]);
    for (const web of ['javascript:alert(1)', '/crue/37', 'file:///etc/passwd', 'crue', 'http://']) {
      const info = webOf(web);
      expect(info.web, web).toBeUndefined();
      expect(
        info.warnings.map((w) => w.message),
        web,
      ).toEqual(['<web> is not an absolute http(s) address (a relative path or another scheme): left out']);
    }
    expect(parseCap(FLOOD_ALERT).infos[0]?.warnings).toEqual([]);
  });

  it('keeps expires and the response types, AllClear included', () => {
    const info = parseCap(FLOOD_ALERT.replace('<responseType>Avoid', '<responseType>AllClear')).infos[0];
    expect(info).toMatchObject({ expires: '2025-01-22T12:00:00+01:00', responseTypes: ['AllClear'] });
  });

  it('checks the enumerations of info and the rules of identifier, scope and language', () => {
    const problems = problemsOf(
      FLOOD_ALERT.replace('<identifier>PREF37-2025-0142', '<identifier>PREF37 2025,0142')
        .replace('<scope>Public', '<scope>Restricted')
        .replace('<category>Safety', '<category>Flood')
        .replace('<certainty>Likely', '<certainty>Very Likely')
        .replace('<language>fr-FR', '<language>français'),
    );
    expect(problems.map((p) => p.path)).toEqual([
      'alert/identifier',
      'alert/restriction',
      'alert/info[1]/language',
      'alert/info[1]/category[2]',
      'alert/info[1]/certainty',
    ]);
  });
});
