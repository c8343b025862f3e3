import { describe, expect, it } from 'vitest';

import { capKey, capNoticeText, capText, type CapInfoBlock } from './index.ts';

const INFO: CapInfoBlock = {
  language: 'fr-FR',
  categories: ['Met'],
  event: 'Orages',
  urgency: 'Immediate',
  severity: 'Severe',
  certainty: 'Observed',
  headline: 'Orages violents sur Tours',
  description: 'Grêle et rafales à 100 km/h.',
  instruction: 'Restez chez vous.',
  web: 'https://www.indre-et-loire.gouv.fr/orages',
  responseTypes: ['Shelter'],
  areas: ['Tours'],
  geocodes: [],
  shapes: [],
  parameters: [],
  warnings: [],
};

describe('capText', () => {
  it('prefixes an Update and a Cancel in French for a French block', () => {
    expect(capText(INFO, { msgType: 'Update' })).toMatch(/^Mise à jour : Orages violents sur Tours\n\n/);
    expect(capText(INFO, { msgType: 'Cancel' })).toMatch(/^Fin d'alerte : Orages violents sur Tours\n\n/);
    expect(capText(INFO, { msgType: 'Alert' })).toMatch(/^Orages violents sur Tours\n\n/);
  });

  it('prefixes in English for any other language', () => {
    const english = { ...INFO, language: 'en-GB' };
    expect(capText(english, { msgType: 'Update' })).toMatch(/^Update: Orages/);
    expect(capText(english, { msgType: 'Cancel' })).toMatch(/^Cancelled: Orages/);
    expect(capText(english)).toMatch(
      /\n\nMore information: https:\/\/www\.indre-et-loire\.gouv\.fr\/orages$/,
    );
  });

  it("announces in the office's language when given one, AllClear as the end of the alert", () => {
    const english = { ...INFO, language: 'en-GB' };
    expect(capText(english, { msgType: 'Update', language: 'fr-FR' })).toMatch(/^Mise à jour : Orages/);
    const over = { ...english, responseTypes: ['AllClear' as const] };
    expect(capText(over, { msgType: 'Update', language: 'fr-FR' })).toMatch(/^Fin de l'alerte : Orages/);
    expect(capText(over, { msgType: 'Update' })).toMatch(/^All clear: Orages/);
    expect(capText(over)).toMatch(/^All clear: Orages/);
  });

  it('has a standard sentence for an Update or a Cancel without <info>', () => {
    expect(capNoticeText('Cancel', 'fr-FR')).toBe('Alerte levée.');
    expect(capNoticeText('Cancel', 'en-GB')).toBe('This alert has been cancelled.');
    expect(capNoticeText('Cancel', 'de')).toBe('This alert has been cancelled.');
    expect(capNoticeText('Update', 'fr')).toBe("L'alerte a été mise à jour.");
    expect(capNoticeText('Update', 'en')).toBe('This alert has been updated.');
  });

  it('keeps every part when some are missing, and the prefix on the first one present', () => {
    const { headline: _h, description: _d, ...rest } = INFO;
    expect(capText(rest, { msgType: 'Cancel' })).toBe(
      "Fin d'alerte : Restez chez vous.\n\nPlus d'informations : https://www.indre-et-loire.gouv.fr/orages",
    );
  });

  it('falls back to the event when the block has nothing else to say', () => {
    const { headline: _h, description: _d, instruction: _i, web: _w, ...bare } = INFO;
    expect(capText(bare)).toBe('Orages');
  });

  it('never truncates, and removes only the layout of pretty-printed XML', () => {
    const long = 'La Loire monte. '.repeat(500).trim();
    const text = capText({ ...INFO, description: `${long}\n\n\n\n      Deuxième paragraphe.   \n   Suite.` });
    expect(text).toContain(long);
    expect(text).toContain(`${long}\n\nDeuxième paragraphe.\nSuite.\n\nRestez chez vous.`);
    expect(text.length).toBeGreaterThan(8000);
  });
});

describe('capKey', () => {
  it('joins sender, identifier and sent as CAP references write them', () => {
    expect(capKey({ sender: 'a@b.fr', identifier: 'X-1', sent: '2025-01-20T08:30:00+01:00' })).toBe(
      'a@b.fr,X-1,2025-01-20T08:30:00+01:00',
    );
  });
});
