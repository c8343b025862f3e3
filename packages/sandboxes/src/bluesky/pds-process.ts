/**
 * The sandbox's PDS and PLC directory, run in a process of their own (started by sandbox.ts,
 * which talks to it over the IPC channel). Two reasons:
 *
 * - Node 24.19+ compiles cleanup hooks into every addon's `node::ObjectWrap`, and their removal
 *   aborts the process when the garbage collector frees such an object outside a JavaScript
 *   context (nodejs/node#65446). better-sqlite3, which the PDS uses for every query, is built
 *   against those headers here, so freeing one of its statements can kill the process at any
 *   moment. This process keeps every better-sqlite3 object alive until it exits (a few MB for a
 *   test run), so none is ever collected; should it die anyway, the tests' process survives.
 * - The PDS is large: loading it here keeps the tests' own process small and quick to start.
 *
 * Arguments: one JSON object { directory, handleDomain }. Messages out: { type: 'ready',
 * pdsPort, plcPort } or { type: 'failed', message }. Message in: { type: 'stop' }.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { close, listen } from './loopback.ts';

interface Options {
  directory: string;
  handleDomain: string;
}

type Closer = () => Promise<void>;

/** Objects that must never be garbage-collected (see above). */
const retained = new Set<object>();

function retainSqliteObjects(): void {
  // better-sqlite3 is the PDS's dependency, not ours: load the very copy the PDS loads.
  const pdsRequire = createRequire(import.meta.resolve('@atproto/pds'));
  const Database = pdsRequire('better-sqlite3') as {
    new (file: string): object;
    prototype: Record<string, unknown>;
  };
  // Every path that makes native objects goes through a database object: retaining the
  // JavaScript database retains its native one.
  for (const name of ['prepare', 'exec', 'pragma', 'transaction', 'close', 'function', 'aggregate']) {
    const original = Database.prototype[name];
    if (typeof original !== 'function') continue;
    Database.prototype[name] = function (this: object, ...args: unknown[]) {
      retained.add(this);
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    };
  }
  // Statements (and their iterators) are made by the native database's own prepare().
  const probe = new Database(':memory:');
  retained.add(probe);
  const native = Object.getOwnPropertySymbols(probe)
    .map((symbol) => (probe as Record<symbol, unknown>)[symbol])
    .find((value): value is { prepare: (...a: unknown[]) => object } => {
      return typeof (value as { prepare?: unknown } | undefined)?.prepare === 'function';
    });
  if (!native) throw new Error('better-sqlite3 has changed: cannot find its native database');
  const nativeDatabase = Object.getPrototypeOf(native) as Record<string, unknown>;
  const nativePrepare = nativeDatabase.prepare as (...a: unknown[]) => object;
  nativeDatabase.prepare = function (this: object, ...args: unknown[]) {
    retained.add(this);
    const statement = nativePrepare.apply(this, args);
    retained.add(statement);
    return statement;
  };
  const statement = nativePrepare.call(native, 'SELECT 1', probe, false);
  retained.add(statement);
  const nativeStatement = Object.getPrototypeOf(statement) as Record<string, unknown>;
  const iterate = nativeStatement.iterate;
  if (typeof iterate === 'function') {
    nativeStatement.iterate = function (this: object, ...args: unknown[]) {
      const iterator = (iterate as (...a: unknown[]) => object).apply(this, args);
      retained.add(iterator);
      return iterator;
    };
  }
}

/** A secp256k1 private key as hex, what the PDS wants for its PLC rotation key. */
function k256PrivateKeyHex(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
  const d = privateKey.export({ format: 'jwk' }).d;
  if (!d) throw new Error('could not generate a secp256k1 key');
  return Buffer.from(d, 'base64url').toString('hex').padStart(64, '0');
}

async function start(options: Options, closers: Closer[]): Promise<{ pdsPort: number; plcPort: number }> {
  retainSqliteObjects();
  const [{ PDS, envToCfg, envToSecrets }, { PlcServer, Database: PlcDatabase }] = await Promise.all([
    import('@atproto/pds'),
    import('@did-plc/server'),
  ]);

  // Each server listens on its own loopback socket first, so that its port is known before the
  // application is built (the PDS writes its URL into every DID document it creates).
  const plcServer = http.createServer();
  closers.push(() => close(plcServer));
  const plcPort = await listen(plcServer);
  const plc = PlcServer.create({ db: PlcDatabase.mock(), port: plcPort });
  plcServer.on('request', plc.app);
  closers.push(() => plc.ctx.db.close());

  const pdsServer = http.createServer();
  closers.push(() => close(pdsServer));
  const pdsPort = await listen(pdsServer);
  const env = {
    devMode: true,
    hostname: 'localhost',
    port: pdsPort,
    dataDirectory: options.directory,
    blobstoreDiskLocation: path.join(options.directory, 'blobs'),
    blobstoreDiskTmpLocation: path.join(options.directory, 'blobs-tmp'),
    didPlcUrl: `http://127.0.0.1:${plcPort}`,
    serviceHandleDomains: [options.handleDomain],
    inviteRequired: false,
    rateLimitsEnabled: false,
    crawlers: [],
    jwtSecret: randomBytes(16).toString('hex'),
    adminPassword: randomBytes(16).toString('hex'),
    plcRotationKeyK256PrivateKeyHex: k256PrivateKeyHex(),
  };
  const pds = await PDS.create(envToCfg(env), envToSecrets(env));
  closers.push(() => pds.destroy());
  // What PDS#start does, minus its own listen() on every interface.
  await pds.ctx.sequencer.start();
  pdsServer.on('request', pds.app);
  return { pdsPort, plcPort };
}

const closers: Closer[] = [];
let stopping = false;

async function stop(): Promise<never> {
  if (!stopping) {
    stopping = true;
    for (const closer of closers.splice(0).reverse()) {
      await closer().catch(() => undefined);
    }
  }
  // exit() skips the environment's cleanup hooks, which would free the retained objects.
  process.exit(0);
}

function send(message: object): void {
  process.send?.(message);
}

process.on('message', (message: { type?: string }) => {
  if (message.type === 'stop') void stop();
});
// The sandbox's process is gone (or dropped us): nothing left to serve.
process.on('disconnect', () => void stop());

try {
  const options = JSON.parse(process.argv[2] ?? '{}') as Options;
  const ports = await start(options, closers);
  send({ type: 'ready', ...ports });
} catch (err) {
  send({ type: 'failed', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  await stop();
}
