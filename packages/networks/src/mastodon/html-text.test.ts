// Mastodon's HTML back to the text that was typed, for the servers that give no `source`.
import { describe, expect, it } from 'vitest';
import { textToHtml } from '@sunset/sandboxes';
import { htmlToText, normalizeNewlines } from './html-text.ts';

describe('htmlToText', () => {
  it('reads paragraphs, line breaks, entities and cut links as Mastodon writes them', () => {
    const html =
      '<p>Nous partons &amp; restons joignables.<br />Suivez-nous :</p>' +
      '<p><a href="https://sunset.example.org/infos/depart-du-compte" rel="nofollow noopener" target="_blank">' +
      '<span class="invisible">https://</span><span class="ellipsis">sunset.example.org/infos/depar</span>' +
      '<span class="invisible">t-du-compte</span></a> et ' +
      '<span class="h-card"><a href="https://mastodon.example/@mairie" class="u-url mention">@<span>mairie</span></a></span></p>';
    expect(htmlToText(html)).toBe(
      'Nous partons & restons joignables.\nSuivez-nous :\n\n' +
        'https://sunset.example.org/infos/depart-du-compte et @mairie',
    );
  });

  it('gives back what the sandbox rendered', () => {
    for (const text of [
      'Une ligne',
      'Deux\nlignes',
      'Un paragraphe.\n\nUn autre, avec <balises> & "guillemets".',
      'Lien https://example.org/un/chemin/assez/long/pour/etre/coupe?x=1 au milieu',
      '',
    ]) {
      expect(htmlToText(textToHtml(text))).toBe(text);
    }
  });

  it('drops the carriage returns multipart forms add', () => {
    expect(normalizeNewlines('a\r\nb\r\n\r\nc')).toBe('a\nb\n\nc');
  });
});
