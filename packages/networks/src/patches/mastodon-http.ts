/**
 * masto's HTTP layer for JSON requests, over node:http(s) with a keep-alive agent instead of
 * fetch: a patch of the library's internals, kept because fetch's Request, Headers, abort signals
 * and web streams cost several times the CPU per Mastodon post (docs/performance-notes.md has the
 * measurement). Requests whose body is JSON, or that have none, take this path; anything else (a
 * media upload's multipart form) goes to masto's own implementation, which is handed in.
 * mastodon-http.test.ts sends the same requests through both and fails, naming masto's version,
 * when they no longer agree or the parts of masto this is built from have moved.
 *
 * What callers see is what masto's fetch implementation gives, so that map-error.ts reads both
 * alike: a `MastoHttpError` for a non-2xx answer, with a fetch `Response` (status and headers,
 * x-ratelimit-reset among them) as its cause; `MastoTimeoutError` when the client's time limit
 * runs out; the caller's `signal.reason` when the caller aborts; `MastoUnexpectedError` for an
 * answer in an encoding masto does not read. A connection that fails (refused, reset, closed
 * before the answer was whole) gives `MastodonConnectionError`, with the socket error as cause; a
 * redirect, which fetch would have followed, `MastodonRedirectError`.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { MastoHttpError, MastoTimeoutError, MastoUnexpectedError } from 'masto';
import type { HttpConfigImpl } from 'masto/adapters/config/index.js';
import { getEncoding } from 'masto/adapters/http/get-encoding.js';
import { BaseHttp } from 'masto/adapters/http/index.js';
import type { Http, HttpRequestParams, HttpResponse, Serializer } from 'masto/interfaces/index.js';

/** The connection failed before a whole answer came back: the request may or may not have been applied. */
export class MastodonConnectionError extends Error {
  override readonly name = 'MastodonConnectionError';
  constructor(cause: unknown) {
    const code = (cause as { code?: unknown } | undefined)?.code;
    super(`the connection to the Mastodon server failed${typeof code === 'string' ? ` (${code})` : ''}`, {
      cause,
    });
  }
}

/**
 * The server answered with a redirect. fetch would follow it (a POST turned into a GET on 301 and
 * 302); this layer does not: an instance URL that redirects is one to correct in the plan.
 */
export class MastodonRedirectError extends Error {
  override readonly name = 'MastodonRedirectError';
  readonly status: number;
  readonly location: string | undefined;
  constructor(status: number, location: string | undefined) {
    super(`the Mastodon server answered ${status}${location ? `, pointing to ${location}` : ''}`);
    this.status = status;
    this.location = location;
  }
}

export interface NodeHttpProps {
  /** The instance's origin, e.g. https://mastodon.social */
  readonly url: string;
  /** Sent as `Authorization: Bearer …` with every request, as masto does. */
  readonly accessToken?: string;
  /** Per-request time limit in ms (none if absent). */
  readonly timeout?: number;
  /** Headers for every request, under each request's own (the rest of a RequestInit is fetch's). */
  readonly requestInit?: { readonly headers?: ConstructorParameters<typeof Headers>[0] };
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/** Node's header object as a fetch `Headers`, repeated headers joined as fetch joins them. */
function headersOf(res: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return headers;
}

/**
 * Keep-alive agents for the whole process, shared by every Mastodon client: connections to an
 * instance serve every organisation on it and outlive the connectors a plan change rebuilds. Node
 * pools connections per host; idle ones are closed by the instance and never keep the process alive.
 */
const SHARED = {
  http: new HttpAgent({ keepAlive: true }),
  https: new HttpsAgent({ keepAlive: true }),
};

export class NodeHttp extends BaseHttp implements Http {
  private readonly agent: HttpAgent;
  private readonly send: typeof httpRequest;
  private readonly serializer: Serializer;
  private readonly config: HttpConfigImpl;
  private readonly props: NodeHttpProps;
  /** masto's fetch implementation, for request bodies other than JSON. */
  private readonly fallback: Http;

  constructor(serializer: Serializer, config: HttpConfigImpl, props: NodeHttpProps, fallback: Http) {
    super();
    this.serializer = serializer;
    this.config = config;
    this.props = props;
    this.fallback = fallback;
    const secure = new URL(props.url).protocol === 'https:';
    this.agent = secure ? SHARED.https : SHARED.http;
    this.send = secure ? httpsRequest : httpRequest;
  }

  async request<T>(params: HttpRequestParams): Promise<HttpResponse<T>> {
    const encoding = params.encoding ?? 'json';
    if (encoding !== 'json' && params.body !== undefined) return this.fallback.request<T>(params);
    const url = this.config.resolvePath(params.path, params.search);
    const body =
      params.body === undefined ? undefined : (this.serializer.serialize('json', params.body) as string);
    const headers: Record<string, string> = {};
    for (const given of [this.props.requestInit?.headers, params.requestInit?.headers]) {
      if (!given) continue;
      new Headers(given).forEach((value, key) => {
        headers[key] = value;
      });
    }
    if (this.props.accessToken) headers['authorization'] = `Bearer ${this.props.accessToken}`;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const answer = await this.exchange(
      params.method,
      url,
      headers,
      body,
      params.requestInit?.signal ?? undefined,
    );
    if (answer.status >= 300 && answer.status <= 399) {
      throw new MastodonRedirectError(answer.status, answer.headers.get('location') ?? undefined);
    }
    const answerEncoding = getEncoding(answer.headers);
    if (answer.status < 200 || answer.status > 299) {
      if (!answerEncoding) {
        throw new MastoUnexpectedError(
          'The server returned data with an unknown encoding. The server may be down.',
        );
      }
      const data = this.serializer.deserialize<Record<string, unknown>>(answerEncoding, answer.text);
      // As masto reads an error answer (an HTML page has no fields, and this line throws on it).
      const { error: message, errorDescription, details, ...additionalProperties } = data;
      throw new MastoHttpError(
        {
          statusCode: answer.status,
          message: message as string,
          description: errorDescription as string,
          details: details as Record<string, never>,
          additionalProperties,
        },
        { cause: new Response(answer.text, { status: answer.status, headers: answer.headers }) },
      );
    }
    if (!answerEncoding) throw new MastoUnexpectedError('The server returned data with an unknown encoding.');
    return { headers: answer.headers, data: this.serializer.deserialize<T>(answerEncoding, answer.text) };
  }

  private exchange(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      signal?.throwIfAborted();
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (err: unknown, answer?: Answer): void => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (answer) resolve(answer);
        else reject(err);
      };
      const req = this.send(url, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          finish(undefined, {
            status: res.statusCode ?? 0,
            headers: headersOf(res),
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', (err) => finish(new MastodonConnectionError(err)));
        // 'end' comes first when the answer is whole.
        res.on('close', () => {
          if (!settled) finish(new MastodonConnectionError(new Error('the answer was cut off')));
        });
      });
      const onAbort = (): void => {
        finish(signal?.reason);
        req.destroy();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.props.timeout) {
        timer = setTimeout(() => {
          finish(new MastoTimeoutError('Request timed out'));
          req.destroy();
        }, this.props.timeout);
      }
      req.on('error', (err) => finish(new MastodonConnectionError(err)));
      req.end(body);
    });
  }
}
