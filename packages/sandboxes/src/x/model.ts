/** The X fake's public types, and the records its modules share. */
import type { XPriceTable } from '@sunset/text';
export type XSandboxFault =
  | { kind: 'latency'; ms: number }
  /**
   * A delay that depends on the post's text (the JSON body's `text`): a benchmark gives the same
   * post the same network delay whichever road it took.
   */
  | { kind: 'latency-of'; ms: (text: string | undefined) => number }
  /** Keeps the request on the wire until `until` settles: a test lets it go once it has looked. */
  | { kind: 'hold'; until: Promise<unknown> }
  | { kind: 'status'; status: 500 | 502 | 503 }
  | { kind: 'rate-limit'; resetInSeconds: number }
  /** Destroys the connection without answering and without applying the request. */
  | { kind: 'reset' }
  /** Applies the request (creates the tweet…), then destroys the connection instead of answering. */
  | { kind: 'lost-reply' };

export interface XSandboxInjectOptions {
  /** How many matching requests the fault hits (default 1). */
  times?: number;
  /** Only requests to this exact path (string) or matching this pattern. */
  path?: string | RegExp;
  method?: string;
}

export interface XSandboxAccountInput {
  id: string;
  username: string;
  name: string;
  appKey: string;
  appSecret: string;
  accessToken: string;
  accessSecret: string;
  profile?: { description?: string; url?: string; location?: string };
  /** Its follower count (default 1200). */
  followers?: number;
}

export interface XSandboxImage {
  data: Buffer;
  mediaType: string;
  /** The original-size URL, as a client downloads it to keep the bytes. */
  url: string;
}

export interface XSandboxProfile {
  name: string;
  description: string;
  /** As given (X shows it through a t.co link). */
  url: string | undefined;
  location: string;
  avatar: XSandboxImage;
  banner: XSandboxImage | undefined;
}

export interface XSandboxMedia {
  id: string;
  mediaKey: string;
  accountId: string;
  mediaType: string;
  totalBytes: number;
  state: 'uploading' | 'in_progress' | 'succeeded' | 'failed';
  data: Buffer | undefined;
  altText: string | undefined;
  width: number | undefined;
  height: number | undefined;
}

export interface XSandboxPost {
  id: string;
  accountId: string;
  username: string;
  /** The text as it was sent. */
  text: string;
  /** The text as X gives it back: links through t.co, &, < and > escaped, a media link appended. */
  returnedText: string;
  /** When it was made, on the wall clock (what created_at says). */
  createdAt: Date;
  /** When it was made on preciseNow's clock, to a fraction of a millisecond (for latency figures). */
  createdAtMs: number;
  inReplyToId: string | undefined;
  conversationId: string;
  mediaIds: string[];
  media: { id: string; mediaType: string; altText: string | undefined; bytes: number }[];
  urls: {
    start: number;
    end: number;
    url: string;
    expandedUrl: string;
    displayUrl: string;
    mediaKey?: string;
  }[];
}

/** One request as the sandbox saw it, and what it answered (Authorization left out). */
export interface XSandboxExchange {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  /** JSON as parsed, form fields as strings, multipart files as `{ bytes }`. */
  body: unknown;
  /** Undefined when the connection was destroyed instead of answered. */
  status: number | undefined;
  responseHeaders: Record<string, string>;
  responseBody: unknown;
  time: Date;
  fault?: XSandboxFault['kind'];
}

export type XAccessSwitch = 'allowed' | 'forbidden';

export interface XSandboxOptions {
  /** 'forbidden' makes the v1.1 account endpoints answer 403/453, as on tiers without them. */
  profileApi?: XAccessSwitch;
  /** 'forbidden' makes GET /2/users/:id/tweets answer 403 client-not-enrolled (lower tiers). */
  timelineApi?: XAccessSwitch;
  /** 'async': finalize answers "pending" and the media is ready about a second later. */
  mediaProcessing?: 'sync' | 'async';
}

export interface XSandbox {
  readonly url: string;
  /** PEM of the self-signed certificate, for the client's agent to trust. */
  readonly ca: string;
  readonly received: XSandboxExchange[];
  readonly posts: XSandboxPost[];
  /** TLS connections accepted so far. */
  readonly connections: number;
  /** The first account's profile. */
  readonly profile: XSandboxProfile | undefined;
  profileApi: XAccessSwitch;
  timelineApi: XAccessSwitch;
  mediaProcessing: 'sync' | 'async';
  profileOf(accountId: string): XSandboxProfile | undefined;
  media(id: string): XSandboxMedia | undefined;
  addAccount(account: XSandboxAccountInput): void;
  /**
   * The app's prepaid balance in dollars: each priced call draws it down by `prices` (X's price
   * table), and a call it cannot pay is answered 402. Undefined: the app pays nothing (default).
   */
  setCredits(appKey: string, dollars: number | undefined): void;
  /** What is left of the app's balance, in dollars (undefined when it pays nothing). */
  credits(appKey: string): number | undefined;
  /** The price table the balance is drawn down by (default X's published one). */
  prices: XPriceTable;
  /** What the account's follower count reads from now on. */
  setFollowers(accountId: string, followers: number): void;
  /** The account's 24-hour cap on originals and replies; undefined: no cap (a verified account). */
  setDailyCaps(accountId: string, caps: { posts: number; replies: number } | undefined): void;
  /** What a capped post is answered: status and body (X's shape is undocumented). */
  capAnswer: { status: number; body: unknown };
  inject(fault: XSandboxFault, options?: XSandboxInjectOptions): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

export interface Account extends XSandboxAccountInput {
  profile: XSandboxProfile;
  avatarSerial: number;
}

/** What a handler answers; the server turns it into the reply and the recorded exchange. */
export interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Raw bytes (images), sent as is. */
  raw?: Buffer;
}

export interface MediaRecord extends XSandboxMedia {
  chunks: Map<number, Buffer>;
  readyAt: number;
}

/** A multipart file part as the sandbox keeps it. */
export interface UploadedFile {
  data: Buffer;
  filename: string;
  mimetype: string;
}

export function isUploadedFile(value: unknown): value is UploadedFile {
  return !!value && typeof value === 'object' && (value as Partial<UploadedFile>).data instanceof Buffer;
}
