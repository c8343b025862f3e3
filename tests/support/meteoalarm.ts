/**
 * CAP alerts and Atom feeds shaped as MeteoAlarm publishes them (its CAP profile: EMMA_ID
 * geocodes, the awareness_level "2; yellow; Moderate" and awareness_type "3; Thunderstorm"
 * parameters, one <info> per language; its legacy Atom feed: one entry per language and area of
 * an alert, with cap: elements, linking to the CAP document or, as some national feeds do,
 * embedding it), and a feed server on loopback whose answers a test changes as it goes.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { Socket } from 'node:net';

export const SENDER = 'vigilance@meteo.example';

/** A CAP date-time (explicit offset, no fraction) `offsetMs` from now. */
export function capTime(offsetMs: number): string {
  return new Date(Date.now() + offsetMs).toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

export interface InfoSpec {
  language: string;
  event: string;
  headline?: string;
  description: string;
  instruction?: string;
  severity: 'Minor' | 'Moderate' | 'Severe' | 'Extreme';
  /** "2; yellow; Moderate" */
  level: string;
  /** "3; Thunderstorm" */
  type: string;
  allClear?: boolean;
}

export interface AlertSpec {
  identifier: string;
  sent: string;
  expires: string;
  msgType?: 'Alert' | 'Update' | 'Cancel';
  references?: { identifier: string; sent: string }[];
  /** EMMA_ID → area name. */
  areas: Record<string, string>;
  infos: InfoSpec[];
}

const xml = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;');

/** The CAP 1.2 document (no XML declaration: it may be embedded). */
export function capAlert(a: AlertSpec): string {
  const refs = a.references?.map((r) => `${SENDER},${r.identifier},${r.sent}`).join(' ');
  const infos = a.infos.map(
    (i) => `
  <info>
    <language>${i.language}</language>
    <category>Met</category>
    <event>${xml(i.event)}</event>${i.allClear ? '\n    <responseType>AllClear</responseType>' : '\n    <responseType>Monitor</responseType>'}
    <urgency>Future</urgency>
    <severity>${i.severity}</severity>
    <certainty>Likely</certainty>
    <onset>${a.sent}</onset>
    <expires>${a.expires}</expires>
    <senderName>Météo Example</senderName>${i.headline ? `\n    <headline>${xml(i.headline)}</headline>` : ''}
    <description>${xml(i.description)}</description>${i.instruction ? `\n    <instruction>${xml(i.instruction)}</instruction>` : ''}
    <web>https://vigilance.meteo.example/</web>
    <parameter><valueName>awareness_level</valueName><value>${i.level}</value></parameter>
    <parameter><valueName>awareness_type</valueName><value>${i.type}</value></parameter>${Object.entries(
      a.areas,
    )
      .map(
        ([code, name]) => `
    <area>
      <areaDesc>${xml(name)}</areaDesc>
      <geocode><valueName>EMMA_ID</valueName><value>${code}</value></geocode>
    </area>`,
      )
      .join('')}
  </info>`,
  );
  return `<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>${a.identifier}</identifier>
  <sender>${SENDER}</sender>
  <sent>${a.sent}</sent>
  <status>Actual</status>
  <msgType>${a.msgType ?? 'Alert'}</msgType>
  <scope>Public</scope>${refs ? `\n  <references>${refs}</references>` : ''}${infos.join('')}
</alert>`;
}

export const capDocument = (a: AlertSpec) => `<?xml version="1.0" encoding="UTF-8"?>\n${capAlert(a)}`;

/**
 * The Atom feed: for each alert, one entry per language and area. `embed` alerts carry their CAP
 * in the entry's content; the others link to `capPath(identifier)` on the feed's server.
 */
export function atomFeed(alerts: { spec: AlertSpec; embed?: boolean }[], capPath: (id: string) => string) {
  const entries = alerts.flatMap(({ spec, embed }) =>
    spec.infos.flatMap((info, infoIndex) =>
      Object.entries(spec.areas).map(
        ([code, name], areaIndex) => `
  <entry>
    <id>https://feeds.meteo.example/api/v1/warnings/feeds-france/${spec.identifier}?index_info=${infoIndex}&amp;index_area=${areaIndex}&amp;index_geocode=0</id>
    <title>${xml(info.event)} - ${xml(name)}</title>
    <updated>${spec.sent}</updated>
    <author><name>meteoalarm</name></author>
    <link rel="alternate" type="text/html" hreflang="${info.language}" href="https://meteoalarm.example/fr/${code}"/>${
      embed
        ? `\n    <content type="application/cap+xml">${capAlert(spec)}</content>`
        : `\n    <link rel="related" type="application/cap+xml" hreflang="${info.language}" href="${capPath(spec.identifier)}"/>`
    }
    <cap:areaDesc>${xml(name)}</cap:areaDesc>
    <cap:event>${xml(info.event)}</cap:event>
    <cap:sent>${spec.sent}</cap:sent>
    <cap:expires>${spec.expires}</cap:expires>
    <cap:status>Actual</cap:status>
    <cap:message_type>${spec.msgType ?? 'Alert'}</cap:message_type>
    <cap:severity>${info.severity}</cap:severity>
    <cap:geocode><valueName>EMMA_ID</valueName><value>${code}</value></cap:geocode>
    <cap:identifier>${spec.identifier}</cap:identifier>
  </entry>`,
      ),
    ),
  );
  return `<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="/feeds/atom.xsl"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2">
  <id>https://feeds.meteo.example/feeds/meteoalarm-legacy-atom-france</id>
  <title>MeteoAlarm France</title>
  <updated>${new Date().toISOString()}</updated>
  <author><name>meteoalarm</name></author>${entries.join('')}
</feed>`;
}

export interface FeedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  /** The status answered; 0 for a request left unanswered. */
  status: number;
  at: number;
  closedAt?: number;
}

export interface FeedServer {
  url: string;
  /** Host and port, for SUNSET_FETCH_ALLOW. */
  host: string;
  /** What `path` answers from now on, after `delayMs`; a new version gets a new ETag. */
  serve(path: string, body: string | Buffer, type?: string, delayMs?: number): void;
  /** `path` answers 500 from now on. */
  fail(path: string): void;
  /** `path` never answers. */
  stall(path: string): void;
  /**
   * The requests received, in order: `at` when each came in and `closedAt` when its connection
   * ended (absent while it is still open), on `Date.now()`.
   */
  requests: FeedRequest[];
  /** The most requests that were being answered at once. */
  maxInFlight(): number;
  close(): Promise<void>;
}

export async function startFeedServer(): Promise<FeedServer> {
  const routes = new Map<
    string,
    | { kind: 'body'; body: string | Buffer; type: string; etag: string; delayMs: number }
    | { kind: 'fail' }
    | { kind: 'stall' }
  >();
  let version = 0;
  const requests: FeedServer['requests'] = [];
  const sockets = new Set<Socket>();
  let inFlight = 0;
  let maxInFlight = 0;
  const server: Server = createServer((req, res) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const entry: FeedRequest = { path: req.url ?? '/', headers: req.headers, status: 0, at: Date.now() };
    res.on('close', () => {
      inFlight -= 1;
      entry.closedAt = Date.now();
    });
    const path = entry.path;
    const route = routes.get(path);
    const record = (status: number) => {
      entry.status = status;
      requests.push(entry);
    };
    if (!route) {
      record(404);
      res.writeHead(404).end();
    } else if (route.kind === 'fail') {
      record(500);
      res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
    } else if (route.kind === 'stall') {
      record(0);
    } else {
      setTimeout(() => {
        if (req.headers['if-none-match'] === route.etag) {
          record(304);
          res.writeHead(304, { etag: route.etag }).end();
        } else {
          record(200);
          res.writeHead(200, { 'content-type': route.type, etag: route.etag }).end(route.body);
        }
      }, route.delayMs);
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    serve(path, body, type = 'application/atom+xml; charset=utf-8', delayMs = 0) {
      version += 1;
      routes.set(path, { kind: 'body', body, type, etag: `"v${version}"`, delayMs });
    },
    fail: (path) => routes.set(path, { kind: 'fail' }),
    stall: (path) => routes.set(path, { kind: 'stall' }),
    requests,
    maxInFlight: () => maxInFlight,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
