/**
 * Mastodon renders a profile's note and field values as HTML. To restore a profile we need the
 * text as it was typed. The server gives it in `source` (verify_credentials) and we prefer that;
 * this is the fallback when `source` is absent: paragraphs become blank lines, <br> a newline,
 * and the text of every element is kept — Mastodon hides part of a long link in
 * `<span class="invisible">`, and concatenating all spans gives the whole URL back.
 */
import { Parser } from 'htmlparser2';

export function htmlToText(html: string): string {
  const paragraphs: string[] = [];
  let current = '';
  const parser = new Parser(
    {
      onopentag(name) {
        if (name === 'br') current += '\n';
      },
      onclosetag(name) {
        if (name === 'p') {
          paragraphs.push(current);
          current = '';
        }
      },
      ontext(text) {
        current += text;
      },
    },
    { decodeEntities: true },
  );
  parser.write(html);
  parser.end();
  if (current !== '') paragraphs.push(current);
  return paragraphs.join('\n\n');
}

/**
 * Form fields travel as multipart/form-data, whose encoding turns every newline into CRLF, and
 * Mastodon keeps them so: read back, a note would differ from what was written.
 */
export function normalizeNewlines(text: string): string {
  return text.replaceAll('\r\n', '\n');
}
