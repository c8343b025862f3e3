// Hostile documents from the network: each must end in a CapError, quickly, having read nothing
// from outside the document.
import { describe, expect, it } from 'vitest';

import { FLOOD_ALERT } from './fixtures.test-support.ts';
import { CapError, charsetOf, DEFAULT_MAX_BYTES, parseCap, type CapProblem } from './index.ts';

function rejection(input: string | Uint8Array, options?: { maxBytes?: number }): CapError {
  const started = performance.now();
  try {
    parseCap(input, options);
  } catch (error) {
    expect(error).toBeInstanceOf(CapError);
    // A limit that kicks in late is no limit: every refusal here is immediate.
    expect(performance.now() - started).toBeLessThan(1000);
    return error as CapError;
  }
  throw new Error('expected parseCap to throw CapError');
}

function only(error: CapError): CapProblem {
  expect(error.problems).toHaveLength(1);
  return error.problems[0]!;
}

const BODY = FLOOD_ALERT.slice(FLOOD_ALERT.indexOf('<alert'));
const alertWith = (prolog: string, body = BODY): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n${prolog}\n${body}`;

describe('no DTD, no entities', () => {
  it('refuses a billion-laughs document before expanding anything', () => {
    const levels = Array.from(
      { length: 9 },
      (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`,
    ).join('\n');
    const bomb = alertWith(
      `<!DOCTYPE alert [\n<!ENTITY lol0 "lol">\n${levels}\n]>`,
      BODY.replace('<headline>', '<headline>&lol9;'),
    );
    const problem = only(rejection(bomb));
    expect(problem.message).toBe('a DOCTYPE is not allowed in a CAP alert (no DTD, no entities)');
    expect(problem.line).toBe(13);
  });

  it('never reads a file named by an external entity', () => {
    const xxe = alertWith(
      '<!DOCTYPE alert [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>',
      BODY.replace('<headline>', '<headline>&xxe;'),
    );
    const error = rejection(xxe);
    expect(only(error).message).toMatch(/DOCTYPE is not allowed/);
    expect(error.message).not.toContain('root:');
    expect(JSON.stringify(error.problems)).not.toContain('root:');
  });

  it('refuses an external DTD named with SYSTEM or PUBLIC, and a parameter entity', () => {
    for (const prolog of [
      '<!DOCTYPE alert SYSTEM "http://attacker.example/cap.dtd">',
      '<!DOCTYPE alert PUBLIC "-//OASIS//CAP" "http://attacker.example/cap.dtd">',
      '<!DOCTYPE alert [ <!ENTITY % remote SYSTEM "http://attacker.example/x.dtd"> %remote; ]>',
    ]) {
      expect(only(rejection(alertWith(prolog))).message).toMatch(/DOCTYPE is not allowed/);
    }
  });

  it('refuses entities it does not know, since nothing may define them', () => {
    const problem = only(rejection(BODY.replace('<headline>', '<headline>&nbsp;')));
    expect(problem).toMatchObject({
      path: 'alert/info/headline',
      message: 'not well-formed XML: undefined entity.',
    });
    expect(problem.line).toBe(20);
  });

  it('still reads the predefined entities and character references as text', () => {
    const alert = parseCap(BODY.replace('<headline>', '<headline>Crue &amp; vent &#x2014; &lt;urgent&gt; '));
    expect(alert.infos[0]?.headline).toBe(
      'Crue & vent \u2014 <urgent> Vigilance orange crues : la Loire à Tours',
    );
  });

  it("reads past processing instructions, a national feed's xml-stylesheet among them", () => {
    const stylesheet = alertWith('<?xml-stylesheet type="text/xsl" href="http://attacker.example/x.xsl"?>');
    expect(parseCap(stylesheet)).toEqual(parseCap(FLOOD_ALERT));
    expect(parseCap(BODY.replace('<scope>', '<?php echo 1 ?><scope>')).scope).toBe('Public');
    // A DOCTYPE after a processing instruction is refused all the same.
    const both = alertWith('<?xml-stylesheet href="x.xsl"?><!DOCTYPE alert [<!ENTITY e "x">]>');
    expect(only(rejection(both)).message).toMatch(/DOCTYPE is not allowed/);
  });
});

describe('size and shape limits', () => {
  it('refuses 300 KiB before parsing, as a string or as bytes', () => {
    const padding = `<!--${'x'.repeat(300 * 1024)}-->`;
    const big = BODY.replace('</alert>', `${padding}</alert>`);
    const fromString = only(rejection(big));
    expect(fromString.message).toMatch(new RegExp(`^document is larger than ${DEFAULT_MAX_BYTES} bytes`));
    expect(only(rejection(new TextEncoder().encode(big))).message).toMatch(/larger than 262144 bytes/);
  });

  it('counts bytes of UTF-8, not characters, and honours maxBytes', () => {
    const bytes = new TextEncoder().encode(FLOOD_ALERT).byteLength;
    expect(() => parseCap(FLOOD_ALERT, { maxBytes: bytes })).not.toThrow();
    expect(only(rejection(FLOOD_ALERT, { maxBytes: bytes - 1 })).message).toContain(`(${bytes})`);
    expect(FLOOD_ALERT.length).toBeLessThan(bytes); // the accents take two bytes each
  });

  it('refuses bytes that are not UTF-8, and a NUL', () => {
    const bytes = new TextEncoder().encode(FLOOD_ALERT);
    const latin1 = Uint8Array.from(bytes);
    latin1[latin1.indexOf(0xc3)] = 0xe9; // "é" written as ISO-8859-1 inside UTF-8 text
    expect(only(rejection(latin1)).message).toBe('document is not valid UTF-8');
    expect(
      only(rejection(new Uint8Array([...bytes.slice(0, 100), 0xff, 0xfe, ...bytes.slice(100)]))).message,
    ).toBe('document is not valid UTF-8');
    expect(only(rejection(BODY.replace('Crue de', 'Crue\u0000de'))).message).toMatch(/NUL character/);
    expect(only(rejection(BODY.replace('Crue de', 'Crue\uD800de'))).message).toMatch(/lone surrogate/);
  });

  it('decodes ISO-8859-1 bytes as declared, and refuses an encoding it does not read', () => {
    const declared = FLOOD_ALERT.replace('UTF-8', 'ISO-8859-1');
    const latin1 = Buffer.from(declared, 'latin1');
    expect(latin1.includes(0xe0)).toBe(true); // "à" is one byte
    expect(parseCap(latin1)).toEqual(parseCap(FLOOD_ALERT));
    expect(parseCap(Buffer.from(declared.replace('ISO-8859-1', 'latin1'), 'latin1'))).toEqual(
      parseCap(FLOOD_ALERT),
    );
    for (const encoding of ['UTF-16', 'EBCDIC-CP-US']) {
      const other = new TextEncoder().encode(FLOOD_ALERT.replace('UTF-8', encoding));
      expect(only(rejection(other)).message).toBe(
        'the declared encoding is not supported; send the alert as UTF-8, ISO-8859-1 or windows-1252',
      );
    }
    // Bytes said to be UTF-8 are checked as UTF-8, and US-ASCII as ASCII.
    expect(only(rejection(Buffer.from(FLOOD_ALERT, 'latin1'))).message).toBe('document is not valid UTF-8');
    const ascii = new TextEncoder().encode(FLOOD_ALERT.replace('UTF-8', 'US-ASCII'));
    expect(only(rejection(ascii)).message).toBe('document declares US-ASCII but holds bytes above 127');
  });

  it('reads windows-1252 as declared, and a document declaring nothing by the transport’s charset', () => {
    // € is 0x80 in windows-1252 (a control character in ISO-8859-1).
    const euro = FLOOD_ALERT.replace('<headline>', '<headline>50 € : ');
    const cp1252 = Buffer.from(euro.replace('UTF-8', 'windows-1252').replaceAll('€', '\u0080'), 'latin1');
    expect(parseCap(cp1252)).toEqual(parseCap(euro));
    const undeclared = FLOOD_ALERT.replace(/^<\?xml[^>]*\?>/, '<?xml version="1.0"?>');
    const latin1 = Buffer.from(undeclared, 'latin1');
    expect(parseCap(latin1, { charset: 'ISO-8859-1' })).toEqual(parseCap(FLOOD_ALERT));
    expect(
      parseCap(Buffer.from(undeclared.replace(/^<\?xml[^>]*\?>/, ''), 'latin1'), { charset: 'latin1' }),
    ).toEqual(parseCap(FLOOD_ALERT));
    expect(only(rejection(latin1)).message).toBe('document is not valid UTF-8');
    expect(() => parseCap(latin1, { charset: 'Shift_JIS' })).toThrow(
      /the charset of its Content-Type is not supported/,
    );
    // A declaration wins over the transport, which more often names a server's default.
    expect(
      parseCap(Buffer.from(FLOOD_ALERT.replace('UTF-8', 'ISO-8859-1'), 'latin1'), { charset: 'utf-8' }),
    ).toEqual(parseCap(FLOOD_ALERT));
    expect(charsetOf('text/xml; charset="ISO-8859-1"')).toBe('ISO-8859-1');
    expect(charsetOf('application/cap+xml;charset=windows-1252; q=1')).toBe('windows-1252');
    expect(charsetOf('application/xml')).toBeUndefined();
    expect(charsetOf(null)).toBeUndefined();
  });

  it("never repeats the sender's text in a problem", () => {
    const marker = 'ZQXMARKER7';
    for (const xml of [
      `<${marker}>`,
      `<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><${marker}>`,
      BODY.replace('<headline>', `<headline ${marker}="1" ${marker}="2">`),
      BODY.replace('</headline>', `</${marker}>`),
      BODY.replace('<headline>', `<headline>&${marker};`),
      BODY.replace('<headline>', `<p:headline xmlns:q="${marker}">`),
      alertWith(`<!DOCTYPE ${marker}>`),
      BODY.replace('<status>Actual', `<status>${marker}`),
      BODY.replace('<scope>', `<${marker}/><scope>`),
    ]) {
      expect(rejection(xml).message, xml.slice(0, 80)).not.toContain(marker);
    }
    const bytes = new TextEncoder().encode(FLOOD_ALERT.replace('UTF-8', marker));
    expect(rejection(bytes).message).not.toContain(marker);
  });

  it('refuses 10,000 nested elements at the 17th level', () => {
    const deep = `<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">${'<info>'.repeat(10_000)}${'</info>'.repeat(10_000)}</alert>`;
    const problem = only(rejection(deep));
    expect(problem.message).toBe('elements nested more than 16 deep');
    // The 17th element is the 16th <info>, right after the 52-character <alert …> tag.
    expect(problem).toMatchObject({ line: 1, column: 52 + 15 * '<info>'.length + 1 });
  });

  it('accepts 16 levels, the limit itself', () => {
    const area = `<area><areaDesc>Tours</areaDesc>${'<x xmlns="urn:example">'.repeat(13)}${'</x>'.repeat(13)}</area>`;
    expect(parseCap(BODY.replace('<area>', `${area}<area>`)).infos[0]?.areas).toContain('Tours');
  });

  it('refuses more than 2000 elements', () => {
    const codes = '<code>c</code>'.repeat(2000);
    const problem = only(rejection(BODY.replace('<scope>', `${codes}<scope>`)));
    expect(problem.message).toBe('more than 2000 elements');
  });

  it('refuses what is not XML at all', () => {
    for (const junk of [
      '',
      '   ',
      'not xml',
      '{"identifier":"x"}',
      '<alert',
      '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"></alrt>',
    ]) {
      expect(rejection(junk).problems.length).toBeGreaterThan(0);
    }
  });
});
