import { describe, expect, it } from 'vitest';
import { CapError } from './errors.ts';
import { awarenessOf, awarenessText, parseCapFeed } from './feed.ts';

const CAP = (language: string, headline: string) => `
      <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
        <identifier>2.49.0.0.250.0.FR.20261201080000.1</identifier>
        <sender>vigilance@meteo.example</sender>
        <sent>2026-12-01T08:00:00+01:00</sent>
        <status>Actual</status>
        <msgType>Alert</msgType>
        <scope>Public</scope>
        <info>
          <language>${language}</language>
          <category>Met</category>
          <event>Thunderstorm</event>
          <urgency>Future</urgency>
          <severity>Moderate</severity>
          <certainty>Likely</certainty>
          <headline>${headline}</headline>
          <parameter><valueName>awareness_level</valueName><value>2; yellow; Moderate</value></parameter>
          <parameter><valueName>awareness_type</valueName><value>3; Thunderstorm</value></parameter>
          <area>
            <areaDesc>Indre-et-Loire</areaDesc>
            <geocode><valueName>EMMA_ID</valueName><value>FR372</value></geocode>
          </area>
        </info>
      </alert>`;

const FEED = `<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet href="atom.xsl" type="text/xsl"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2">
  <id>https://feeds.meteo.example/meteoalarm-legacy-atom-france</id>
  <title>MeteoAlarm France</title>
  <updated>2026-12-01T08:00:00Z</updated>
  <entry>
    <id>urn:entry:1</id>
    <cap:identifier>2.49.0.0.250.0.FR.20261201080000.1</cap:identifier>
    <cap:sender>vigilance@meteo.example</cap:sender>
    <content type="application/cap+xml">${CAP('fr-FR', 'Orages')}</content>
  </entry>
  <entry>
    <id>urn:entry:2</id>
    <link rel="alternate" type="text/html" href="/html/1"/>
    <link rel="related" type="application/cap+xml" href="/cap/1.xml"/>
  </entry>
  <entry>
    <id>urn:entry:3</id>
    <content type="application/cap+xml"><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert></content>
  </entry>
  <entry><id>urn:entry:4</id><link href="javascript:alert(1)"/></entry>
</feed>`;

describe('parseCapFeed', () => {
  it('reads embedded CAP, linked CAP (resolved against the feed) and reports broken entries', () => {
    const feed = parseCapFeed(FEED, { base: 'https://feeds.meteo.example/atom' });
    expect(feed.kind).toBe('atom');
    if (feed.kind !== 'atom') return;
    const [embedded, linked, broken, nothing] = feed.entries;
    expect(embedded?.alert?.identifier).toBe('2.49.0.0.250.0.FR.20261201080000.1');
    expect(embedded?.alert?.infos[0]?.geocodes).toEqual([{ valueName: 'EMMA_ID', value: 'FR372' }]);
    expect(embedded?.sender).toBe('vigilance@meteo.example');
    expect(linked?.capUrl).toBe('https://feeds.meteo.example/cap/1.xml');
    expect(broken?.problem).toMatch(/^embedded CAP: CAP alert rejected/);
    expect(nothing?.problem).toMatch(/neither embeds a CAP alert nor links to one/);
  });

  it('reads a plain CAP document as one alert, and refuses anything else with where and why', () => {
    const plain = parseCapFeed(`<?xml version="1.0"?>${CAP('en-GB', 'Storms')}`);
    expect(plain.kind === 'cap' && plain.alert.infos[0]?.headline).toBe('Storms');
    expect(() => parseCapFeed('<html><body>Alertes</body></html>')).toThrow(CapError);
    expect(() => parseCapFeed('<html><body>Alertes</body></html>')).toThrow(
      /feed: the document is neither an Atom feed .*, an RSS 2\.0 feed \(<rss>\) nor a CAP alert/,
    );
    expect(() => parseCapFeed('<!DOCTYPE feed [<!ENTITY a "b">]><feed/>')).toThrow(/DOCTYPE/);
  });
});

describe('RSS 2.0 feeds of CAP, as alerting authorities publish them', () => {
  it('reads each item’s CAP link from its enclosure, its link or its permalink guid', () => {
    const feed = parseCapFeed(
      `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>Alertes de la protection civile</title>
    <link>https://alertes.example/</link>
    <description>Alertes CAP en cours</description>
    <atom:link href="https://alertes.example/rss.xml" rel="self" type="application/rss+xml"/>
    <item>
      <title>Crue de la Loire</title>
      <link>/cap/crue-1.xml</link>
      <guid isPermaLink="false">crue-1</guid>
      <pubDate>Tue, 01 Dec 2026 08:00:00 +0100</pubDate>
    </item>
    <item>
      <title>Orages</title>
      <link>https://alertes.example/alerte/orages-2.html</link>
      <enclosure url="https://alertes.example/cap/orages-2.xml" length="2048" type="application/cap+xml"/>
      <guid>https://alertes.example/alerte/orages-2.html</guid>
    </item>
    <item>
      <title>Vent</title>
      <guid>https://alertes.example/cap/vent-3.xml</guid>
    </item>
    <item><title>Embedded</title><description>see below</description>${CAP('fr-FR', 'Orages')}</item>
    <item><title>Nothing</title><link>javascript:alert(1)</link></item>
  </channel>
</rss>`,
      { base: 'https://alertes.example/rss.xml' },
    );
    expect(feed.kind).toBe('rss');
    if (feed.kind !== 'rss') return;
    const [first, second, third, embedded, nothing] = feed.entries;
    expect(first).toEqual({
      id: 'crue-1',
      updated: 'Tue, 01 Dec 2026 08:00:00 +0100',
      capUrl: 'https://alertes.example/cap/crue-1.xml',
    });
    expect(second?.capUrl).toBe('https://alertes.example/cap/orages-2.xml');
    expect(third?.capUrl).toBe('https://alertes.example/cap/vent-3.xml');
    expect(embedded?.alert?.infos[0]?.headline).toBe('Orages');
    expect(nothing?.problem).toMatch(/neither embeds a CAP alert nor links to one/);
  });
});

describe('MeteoAlarm awareness', () => {
  it('decodes awareness_level and awareness_type, and says them in French or English', () => {
    const awareness = awarenessOf({
      parameters: [
        { valueName: 'awareness_level', value: '3; orange; Severe' },
        { valueName: 'awareness_type', value: '1; Wind' },
      ],
    });
    expect(awareness).toEqual({
      level: { rank: 3, colour: 'orange', label: 'Severe' },
      type: { code: 1, name: 'Wind' },
    });
    expect(awarenessText(awareness, 'fr-FR')).toBe('Vigilance orange : Wind');
    expect(awarenessText(awareness, 'en')).toBe('Orange warning: Wind');
    expect(awarenessOf({ parameters: [{ valueName: 'awareness_level', value: 'purple' }] })).toEqual({});
  });
});
