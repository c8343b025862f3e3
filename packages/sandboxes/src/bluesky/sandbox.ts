/**
 * A real Bluesky PDS on loopback for tests and the demo: `@atproto/pds` in dev mode (SQLite and
 * blobs in a temporary directory) with its own PLC directory (`@did-plc/server`, in memory), in
 * a child process (see pds-process.ts for why), behind a small proxy in this process that
 * records every request and injects faults on demand, so connectors meet real server answers:
 * the PDS's own errors and, through the proxy, rate limits, 5xx, resets and lost replies.
 * A PDS hands `app.bsky.actor.getProfile` to an AppView, which the sandbox has none of: the proxy
 * answers it from the PDS's own repositories (their follow and post records), so a profile's
 * follower count is what the test's accounts actually did.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AtpAgent } from '@atproto/api';
import { preciseNow } from '../clock.ts';
import { close, listen } from './loopback.ts';

/** What the proxy can do to a request instead of (or on top of) forwarding it. */
export type BlueskyFault =
  /** Wait before forwarding. */
  | { kind: 'latency'; ms: number }
  /** Answer with this status and an XRPC error body, without forwarding. */
  | { kind: 'status'; status: 500 | 502 | 503 }
  /** Answer 429 with the PDS's rate-limit headers; `ratelimit-reset` is now + resetInSeconds. */
  | { kind: 'rate-limit'; resetInSeconds: number }
  /** Destroy the connection before forwarding: the PDS never sees the request. */
  | { kind: 'reset' }
  /** Forward, let the PDS apply the request, then destroy the connection instead of answering. */
  | { kind: 'lost-reply' };

export interface InjectOptions {
  /** How many matching requests get the fault (default 1). */
  times?: number;
  /** Let this many matching requests through untouched first (default 0). */
  after?: number;
  /**
   * Which requests: a string matches the path exactly, with or without "/xrpc/" (e.g.
   * "com.atproto.repo.createRecord"); a RegExp is tested against path and query. Default: any.
   */
  path?: string | RegExp;
}

export interface ReceivedRequest {
  method: string;
  /** Path and query, e.g. "/xrpc/com.atproto.repo.getRecord?repo=…". */
  path: string;
  at: Date;
  /** The same instant in ms since the epoch, to a fraction of a millisecond (for latency figures). */
  atMs: number;
  /** The fault applied to it, if any. */
  fault?: BlueskyFault['kind'];
}

export interface SandboxAccount {
  did: string;
  handle: string;
  /** An app password created through the API, what a connector logs in with. */
  password: string;
  /** The account's main password (the sandbox chose it or was given it). */
  accountPassword: string;
}

export interface BlueskySandboxOptions {
  /** Handle domain the PDS serves (default ".test"). */
  handleDomain?: string;
  /** Give up starting after this long (default 60 s: a PDS takes seconds to start on a busy machine). */
  startTimeoutMs?: number;
}

export interface BlueskySandbox {
  /** The fault-injecting proxy in front of the PDS: what connectors talk to. */
  readonly url: string;
  /** The PDS itself, bypassing the proxy. */
  readonly pdsUrl: string;
  readonly plcUrl: string;
  readonly handleDomain: string;
  /** The temporary directory holding the PDS's databases and blobs (removed by stop()). */
  readonly directory: string;
  /** Every request that went through the proxy, in arrival order. */
  readonly received: ReceivedRequest[];
  /** Creates an account (a bare name gets the handle domain appended) and an app password. */
  createAccount(handle: string, password?: string): Promise<SandboxAccount>;
  inject(fault: BlueskyFault, options?: InjectOptions): void;
  /** Drops faults not yet used up. */
  clearFaults(): void;
  stop(): Promise<void>;
}

interface ArmedFault {
  fault: BlueskyFault;
  /** Matching requests still to let through before the fault applies. */
  skip: number;
  remaining: number;
  path: string | RegExp | undefined;
}

function matches(armed: ArmedFault, url: string): boolean {
  if (armed.path === undefined) return true;
  if (armed.path instanceof RegExp) return armed.path.test(url);
  const pathname = url.split('?')[0] ?? url;
  return pathname === armed.path || pathname === `/xrpc/${armed.path}`;
}

// Headers that belong to one connection, not to the message: never copied across the proxy.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function endToEnd(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not start within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function startBlueskySandbox(options: BlueskySandboxOptions = {}): Promise<BlueskySandbox> {
  const handleDomain = options.handleDomain ?? '.test';
  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    // In reverse order of start; every step runs even if one fails.
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch(() => undefined);
    }
  };
  const starting = start(handleDomain, cleanups, stopAll);
  try {
    return await withTimeout(starting, options.startTimeoutMs ?? 60_000, 'the Bluesky sandbox');
  } catch (err) {
    await stopAll();
    // After a time-out the start goes on: whatever it still opens is closed when it ends.
    starting.then(stopAll, stopAll);
    throw err;
  }
}

/** Where the child process's code is: beside this file, .ts in the sources, .js once built. */
function childScript(): string {
  const extension = path.extname(fileURLToPath(import.meta.url));
  return fileURLToPath(new URL(`./pds-process${extension}`, import.meta.url));
}

interface ChildReady {
  pdsPort: number;
  plcPort: number;
}

/** Starts pds-process.ts and waits for its ports; its stderr is kept to explain a failure. */
async function startChild(
  directory: string,
  handleDomain: string,
  cleanups: (() => Promise<void>)[],
): Promise<ChildReady> {
  const child: ChildProcess = fork(childScript(), [JSON.stringify({ directory, handleDomain })], {
    // Not the parent's flags (a test runner's loaders and conditions): the child needs none.
    execArgv: [],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    serialization: 'json',
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      if (child.connected) child.send({ type: 'stop' });
      else child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
  });
  // The child must not keep the caller's process alive on its own (it stops when we go); until
  // it is ready, the start-up time limit's timer does.
  child.unref();
  child.channel?.unref();
  (child.stderr as Socket | null)?.unref();
  return new Promise<ChildReady>((resolve, reject) => {
    child.once('message', (message: { type?: string; message?: string } & Partial<ChildReady>) => {
      if (message.type === 'ready' && message.pdsPort && message.plcPort) {
        resolve({ pdsPort: message.pdsPort, plcPort: message.plcPort });
      } else {
        reject(new Error(`the PDS could not start: ${message.message ?? JSON.stringify(message)}`));
      }
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      reject(new Error(`the PDS process exited (${signal ?? code}) before it was ready: ${stderr.trim()}`));
    });
  });
}

async function start(
  handleDomain: string,
  cleanups: (() => Promise<void>)[],
  stopAll: () => Promise<void>,
): Promise<BlueskySandbox> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sunset-bluesky-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const { pdsPort, plcPort } = await startChild(dir, handleDomain, cleanups);
  const pdsUrl = `http://127.0.0.1:${pdsPort}`;
  const plcUrl = `http://127.0.0.1:${plcPort}`;

  const received: ReceivedRequest[] = [];
  let faults: ArmedFault[] = [];
  const upstream = new http.Agent({ keepAlive: true });
  cleanups.push(async () => upstream.destroy());
  const delays = new Set<NodeJS.Timeout>();
  cleanups.push(async () => {
    for (const timer of delays) clearTimeout(timer);
    delays.clear();
  });

  const takeFault = (url: string): BlueskyFault | undefined => {
    let armed: ArmedFault | undefined;
    for (const candidate of faults) {
      if (candidate.remaining <= 0 || !matches(candidate, url)) continue;
      if (candidate.skip > 0) {
        candidate.skip -= 1;
        continue;
      }
      armed = candidate;
      break;
    }
    if (!armed) return undefined;
    armed.remaining -= 1;
    faults = faults.filter((f) => f.remaining > 0);
    return armed.fault;
  };

  const forward = (req: http.IncomingMessage, res: http.ServerResponse, loseReply: boolean) => {
    const out = http.request(
      {
        host: '127.0.0.1',
        port: pdsPort,
        method: req.method,
        path: req.url,
        headers: { ...endToEnd(req.headers), host: `127.0.0.1:${pdsPort}` },
        agent: upstream,
      },
      (answer) => {
        if (loseReply) {
          // Read the whole answer so the PDS has finished, then drop the client's connection.
          answer.resume();
          answer.on('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
        answer.pipe(res);
      },
    );
    out.on('error', () => req.socket.destroy());
    req.pipe(out);
  };

  /** Reads and discards the request body, then answers. */
  const answer = (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    headers: http.OutgoingHttpHeaders,
    body: object,
  ) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(body));
    });
  };

  const handles = new Map<string, string>();
  /** The AppView's profile view of one account, counted from the records on the PDS. */
  const profileView = async (actor: string): Promise<{ status: number; body: object }> => {
    const agent = new AtpAgent({ service: pdsUrl });
    let did = actor;
    if (!actor.startsWith('did:')) {
      try {
        did = (await agent.com.atproto.identity.resolveHandle({ handle: actor })).data.did;
      } catch {
        return { status: 400, body: { error: 'InvalidRequest', message: 'Profile not found' } };
      }
    }
    const repos = (await agent.com.atproto.sync.listRepos({ limit: 1000 })).data.repos;
    if (!repos.some((r) => r.did === did))
      return { status: 400, body: { error: 'InvalidRequest', message: 'Profile not found' } };
    const records = async (did: string, collection: string) => {
      const out: Record<string, unknown>[] = [];
      let cursor: string | undefined;
      do {
        const page = await agent.com.atproto.repo.listRecords({
          repo: did,
          collection,
          limit: 100,
          ...(cursor ? { cursor } : {}),
        });
        out.push(...page.data.records.map((r) => r.value as Record<string, unknown>));
        cursor = page.data.records.length === 100 ? page.data.cursor : undefined;
      } while (cursor);
      return out;
    };
    let followersCount = 0;
    for (const other of repos) {
      if (other.did === did) continue;
      const follows = await records(other.did, 'app.bsky.graph.follow');
      if (follows.some((f) => f['subject'] === did)) followersCount += 1;
    }
    const profile = (await records(did, 'app.bsky.actor.profile'))[0];
    return {
      status: 200,
      body: {
        did,
        // What the AppView shows for a handle it cannot verify (the sandbox's are not in DNS).
        handle: handles.get(did) ?? 'handle.invalid',
        ...(typeof profile?.['displayName'] === 'string' ? { displayName: profile['displayName'] } : {}),
        followersCount,
        followsCount: (await records(did, 'app.bsky.graph.follow')).length,
        postsCount: (await records(did, 'app.bsky.feed.post')).length,
      },
    };
  };

  const proxy = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const fault = takeFault(url);
    if (!fault && url.startsWith('/xrpc/app.bsky.actor.getProfile?')) {
      const actor = new URL(url, 'http://sandbox').searchParams.get('actor') ?? '';
      const atMs = preciseNow();
      received.push({ method: req.method ?? 'GET', path: url, at: new Date(atMs), atMs });
      profileView(actor).then(
        (view) => answer(req, res, view.status, {}, view.body),
        (err: unknown) => answer(req, res, 500, {}, { error: 'InternalServerError', message: String(err) }),
      );
      return;
    }
    const atMs = preciseNow();
    received.push({
      method: req.method ?? 'GET',
      path: url,
      at: new Date(atMs),
      atMs,
      ...(fault ? { fault: fault.kind } : {}),
    });
    switch (fault?.kind) {
      case undefined:
        return forward(req, res, false);
      case 'latency': {
        // A client that gives up during the delay must not get its request forwarded later. The
        // listener goes with the delay: a kept-alive connection carries many requests.
        const giveUp = () => {
          clearTimeout(timer);
          delays.delete(timer);
        };
        const timer = setTimeout(() => {
          delays.delete(timer);
          req.socket.off('close', giveUp);
          forward(req, res, false);
        }, fault.ms);
        delays.add(timer);
        req.socket.once('close', giveUp);
        return;
      }
      case 'status':
        return answer(
          req,
          res,
          fault.status,
          {},
          {
            error: fault.status === 500 ? 'InternalServerError' : 'UpstreamFailure',
            message: 'Injected fault',
          },
        );
      case 'rate-limit': {
        const reset = Math.ceil(Date.now() / 1000) + fault.resetInSeconds;
        return answer(
          req,
          res,
          429,
          {
            'ratelimit-limit': '3000',
            'ratelimit-remaining': '0',
            'ratelimit-reset': String(reset),
            'ratelimit-policy': '3000;w=300',
          },
          { error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' },
        );
      }
      case 'reset':
        req.socket.destroy();
        return;
      case 'lost-reply':
        return forward(req, res, true);
    }
  });
  cleanups.push(() => close(proxy));
  const proxyPort = await listen(proxy);
  const url = `http://127.0.0.1:${proxyPort}`;

  const createAccount = async (handle: string, password?: string): Promise<SandboxAccount> => {
    const fullHandle = handle.includes('.') ? handle : `${handle}${handleDomain}`;
    const accountPassword = password ?? randomBytes(12).toString('base64url');
    const agent = new AtpAgent({ service: pdsUrl });
    const created = await agent.createAccount({
      handle: fullHandle,
      email: `${fullHandle.split('.')[0] ?? 'user'}-${randomBytes(4).toString('hex')}@example.test`,
      password: accountPassword,
    });
    const app = await agent.com.atproto.server.createAppPassword({ name: 'sunset' });
    handles.set(created.data.did, created.data.handle);
    return {
      did: created.data.did,
      handle: created.data.handle,
      password: app.data.password,
      accountPassword,
    };
  };

  return {
    url,
    pdsUrl,
    plcUrl,
    handleDomain,
    directory: dir,
    received,
    createAccount,
    inject(fault, injectOptions = {}) {
      faults.push({
        fault,
        skip: injectOptions.after ?? 0,
        remaining: injectOptions.times ?? 1,
        path: injectOptions.path,
      });
    },
    clearFaults() {
      faults = [];
    },
    stop: stopAll,
  };
}
