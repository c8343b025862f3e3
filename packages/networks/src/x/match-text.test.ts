import { describe, expect, it } from 'vitest';
import { expandReturnedText, matchesSentText } from './match-text.ts';

const link = { url: 'https://t.co/abc1234567', expanded_url: 'https://www.ville.fr/agenda?x=1&y=2' };
const media = {
  url: 'https://t.co/zzz9999999',
  expanded_url: 'https://x.com/Ville/status/1850000000000000001/photo/1',
  media_key: '3_1850000000000000000',
};

describe('matching a returned post with the text that was sent', () => {
  it('expands t.co links, drops the media link and unescapes HTML', () => {
    const returned = `Voir https://t.co/abc1234567 &amp; venez &lt;nombreux&gt; https://t.co/zzz9999999`;
    expect(expandReturnedText(returned, [link, media])).toBe(
      'Voir https://www.ville.fr/agenda?x=1&y=2 & venez <nombreux>',
    );
    expect(
      matchesSentText('Voir https://www.ville.fr/agenda?x=1&y=2 & venez <nombreux>', returned, [link, media]),
    ).toBe(true);
  });

  it('keeps a literal entity that was sent', () => {
    expect(expandReturnedText('a &amp;lt; b')).toBe('a &lt; b');
  });

  it('falls back to the words around links when X gives no entities or rewrites a link', () => {
    expect(matchesSentText('Lien : https://ville.fr/a', 'Lien : https://t.co/abc1234567')).toBe(true);
    // A link written without a scheme, which X links anyway.
    const bare = { url: 'https://t.co/abc1234567', expanded_url: 'http://ville.fr' };
    expect(matchesSentText('Lien : ville.fr', 'Lien : https://t.co/abc1234567', [bare])).toBe(true);
  });

  it('does not match different words, or a different number of links', () => {
    expect(matchesSentText('Fermeture du compte', 'Fermeture du compte demain')).toBe(false);
    expect(matchesSentText('Voir https://a.fr', 'Voir https://t.co/1 https://t.co/2')).toBe(false);
    expect(matchesSentText('Avis 1/4', 'Avis 2/4')).toBe(false);
  });

  it('ignores Unicode normalisation form and surrounding space', () => {
    expect(matchesSentText('Cafe\u0301 fermé ', 'Café fermé')).toBe(true);
  });
});
