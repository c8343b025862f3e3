/**
 * `pnpm demo`: a whole exit from X in about two minutes, on this machine only. It starts the
 * sandbox networks (X and Mastodon servers checked against their specs, a real Bluesky PDS), the
 * API and the worker on the embedded defaults (a SQLite file, the local Redis), applies the
 * Tours example plan with its weeks squeezed into seconds, and walks through the exit:
 * announcements, the farewell thread, the dormant profile with its generated banner, an ordinary
 * post mirrored, a post to X refused after the sunset, a crisis that still reaches X (approved
 * by a second person, as the plan asks). It prints what happens as it happens, then a summary
 * with links on the sandbox servers, the dashboard's address, and the audit chain's check. One
 * file, read top to bottom as the demo's script, hence its length.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashToken, mintToken, NETWORK_LABELS, NETWORKS, type Network } from '@sunset/core';
import { startBlueskySandbox, startMastodonSandbox, startXSandbox } from '@sunset/sandboxes';
import { instantOf, sunsetOf, type PlanDocument } from '@sunset/plan';
import { startRedisHint } from '@sunset/queue';
import { openStore } from '@sunset/store';
import pc from 'picocolors';
import { parse, stringify } from 'yaml';
import { readDemoConfig } from './config.ts';
import { removeKeys } from './redis-keys.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const EXAMPLE = path.join(root, 'config/plans/ville-de-tours.yaml');
const ORG = 'ville-de-tours';
const config = readDemoConfig();
const c = pc.createColors(config.colour);
const started = Date.now();

const say = (line: string) =>
  process.stdout.write(
    `${c.dim(`[${String(Math.round((Date.now() - started) / 1000)).padStart(3)} s]`)} ${line}\n`,
  );
const step = (line: string) => say(c.bold(line));

const stops: (() => Promise<unknown>)[] = [];
let stopping: Promise<void> | undefined;
function stopAll(code: number): Promise<void> {
  stopping ??= (async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    process.exit(code);
  })();
  return stopping;
}
process.on('SIGINT', () => {
  process.stdout.write('\n');
  say('stopping (Ctrl-C)…');
  void stopAll(130);
});
process.on('SIGTERM', () => void stopAll(143));

function redisAnswers(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port: Number(u.port || 6379) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

function freePort(preferred: number): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => {
        const a = srv.address();
        srv.close(() => resolve(typeof a === 'object' && a ? a.port : port));
      });
    });
  return tryPort(preferred).catch(() => tryPort(0));
}

function startProcess(name: string, entry: string, env: Record<string, string>): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--conditions=development', '--no-warnings=ExperimentalWarning', entry],
    {
      cwd: root,
      env: { ...config.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-6000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('exit', (code, signal) => {
    if (!stopping && signal === null) {
      say(c.red(`the ${name} stopped unexpectedly (exit ${code}); its last words:`));
      process.stdout.write(`${tail}\n`);
      void stopAll(1);
    }
  });
  stops.push(
    () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(undefined);
        child.once('exit', resolve);
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
      }),
  );
  return child;
}

/** Squeezes the plan's weeks into seconds: 14 days before the sunset becomes about 35 s before it. */
function squeeze(offsetMs: number): number {
  const sign = Math.sign(offsetMs);
  return sign * 6_000 * Math.log(1 + Math.abs(offsetMs) / 3_600_000);
}

function iso(ms: number): string {
  return new Date(Math.round(ms / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

async function api<T>(
  base: string,
  token: string,
  method: string,
  route: string,
  body?: unknown,
  type = 'application/json',
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': type } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

interface NetState {
  status: string;
  urls: string[];
  lastError?: string;
  parts: number;
  published: number;
  checklist?: string[];
}
interface Row {
  key: string;
  kind: string;
  postId?: string;
  dueAt: string;
  networks: Partial<Record<Network, NetState>>;
}

async function main(): Promise<void> {
  process.stdout.write(
    `${c.bold('sunset demo')}: the exit of the Ville de Tours from X, squeezed into about two minutes.\n\n`,
  );
  if (!(await redisAnswers(config.redisUrl))) {
    process.stderr.write(
      `${c.red('Redis is not answering')} at ${config.redisUrl}: the job queues need it.\n${startRedisHint(config.redisUrl)}\n`,
    );
    process.exit(69);
  }

  const dir = config.dataDir;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const prefix = `sunset-demo-${Date.now().toString(36)}`;

  step('starting the sandbox networks on 127.0.0.1 (X, Mastodon, and a real Bluesky PDS)…');
  const [x, bluesky, mastodon] = await Promise.all([
    startXSandbox(),
    startBlueskySandbox(),
    startMastodonSandbox({ domain: 'social.tours.fr', mediaProcessingMs: 200 }),
  ]);
  stops.push(
    () => x.stop(),
    () => bluesky.stop(),
    () => mastodon.stop(),
  );
  x.addAccount({
    id: '1880000000000000001',
    username: 'VilledeTours',
    name: 'Ville de Tours',
    appKey: 'demo-app-key',
    appSecret: 'demo-app-secret',
    accessToken: '1880000000000000001-demo',
    accessSecret: 'demo-access-secret',
    profile: {
      description: 'Compte officiel de la Ville de Tours. Actualité, sorties, démarches.',
      url: 'https://www.tours.fr',
      location: 'Tours',
    },
  });
  const bsky = await bluesky.createAccount('tours');
  mastodon.addAccount({ username: 'ville', token: 'demo-mastodon-token', displayName: 'Ville de Tours' });
  say(`X ${x.url} · Bluesky ${bluesky.url} (PDS ${bluesky.pdsUrl}) · Mastodon ${mastodon.url}`);

  // The example plan, pointed at the sandboxes, with its times squeezed around a sunset 50 s away.
  const doc = parse(readFileSync(EXAMPLE, 'utf8')) as PlanDocument & Record<string, unknown>;
  const realSunset = sunsetOf(doc);
  const t0 = Date.now() + 8_000;
  const demoSunset = t0 + 50_000;
  const shifted = (expr: string) =>
    iso(demoSunset + squeeze(instantOf(doc, expr, realSunset).getTime() - realSunset.getTime()));
  doc.sunset.at = iso(demoSunset);
  for (const post of doc.posts ?? []) post.at = shifted(post.at);
  if (doc.dormant_profile) doc.dormant_profile.at = shifted(doc.dormant_profile.at);
  doc.networks.x = {
    ...doc.networks.x!,
    api_base: x.url,
    credentials: {
      app_key: 'env:VILLE_DE_TOURS__DEMO_X_APP_KEY',
      app_secret: 'env:VILLE_DE_TOURS__DEMO_X_APP_SECRET',
      access_token: 'env:VILLE_DE_TOURS__DEMO_X_ACCESS_TOKEN',
      access_secret: 'env:VILLE_DE_TOURS__DEMO_X_ACCESS_SECRET',
    },
  };
  doc.networks.bluesky = {
    ...doc.networks.bluesky!,
    handle: bsky.handle,
    service: bluesky.url,
    credentials: {
      identifier: 'env:VILLE_DE_TOURS__DEMO_BSKY_IDENTIFIER',
      app_password: 'env:VILLE_DE_TOURS__DEMO_BSKY_APP_PASSWORD',
    },
  };
  doc.networks.mastodon = {
    ...doc.networks.mastodon!,
    instance: mastodon.url,
    credentials: { access_token: 'env:VILLE_DE_TOURS__DEMO_MASTODON_TOKEN' },
  };
  const planFile = path.join(dir, 'ville-de-tours.yaml');
  writeFileSync(
    planFile,
    `# The Tours example plan, squeezed into two minutes and pointed at the sandboxes by pnpm demo.\n${stringify(doc, { lineWidth: 0 })}`,
  );
  cpSync(path.join(path.dirname(EXAMPLE), 'assets'), path.join(dir, 'assets'), { recursive: true });

  const store = await openStore({ url: path.join(dir, 'sunset.db') });
  stops.push(() => store.close());
  await store.organisations.ensure({ id: ORG, name: doc.organisation.name });
  const tokens: Record<string, string> = {};
  // One person each: the duty officer's crisis post is approved by another person, the chief.
  for (const [name, role, person] of [
    ['dircom', 'admin', 'camille.dircom'],
    ['planification', 'planner', 'sacha.planification'],
    ['redaction', 'editor', 'lou.redaction'],
    ['astreinte', 'crisis', 'alex.astreinte'],
    ['chef-de-salle', 'crisis', 'dominique.chef-de-salle'],
    ['archives', 'auditor', 'morgan.archives'],
  ] as const) {
    tokens[name] = mintToken();
    await store.tokens.create({
      id: name,
      organisationId: ORG,
      name,
      person,
      role,
      hash: hashToken(tokens[name]),
      createdBy: 'cli:demo',
    });
  }

  const port = await freePort(config.port);
  const base = `http://127.0.0.1:${port}`;
  const common = {
    DATABASE_URL: path.join(dir, 'sunset.db'),
    REDIS_URL: config.redisUrl,
    SUNSET_QUEUE_PREFIX: prefix,
    SUNSET_DATA_DIR: dir,
    LOG_LEVEL: 'warn',
  };
  const caFile = path.join(dir, 'x-sandbox-ca.pem');
  writeFileSync(caFile, x.ca);
  step('starting the API and the worker (SQLite file, local Redis)…');
  startProcess('API', path.join(root, 'services/api/src/server.ts'), {
    ...common,
    SUNSET_API_PORT: String(port),
    SUNSET_PLANS_DIR: dir,
    // The operator's metrics port when free; else another, not a failed start beside a running API.
    SUNSET_METRICS_LISTEN: `127.0.0.1:${await freePort(9464)}`,
  });
  startProcess('worker', path.join(root, 'services/worker/src/main.ts'), {
    ...common,
    SUNSET_X_CA_FILE: caFile,
    // The sandboxes serve profile images on loopback: the worker reads them only from these ports.
    SUNSET_FETCH_ALLOW: [x.url, mastodon.url].map((url) => new URL(url).host).join(','),
    SUNSET_LIMITS: 'x=1000/1s,bluesky=1000/1s,mastodon=1000/1s',
    SUNSET_RECONCILE_INTERVAL_MS: '10000',
    VILLE_DE_TOURS__DEMO_X_APP_KEY: 'demo-app-key',
    VILLE_DE_TOURS__DEMO_X_APP_SECRET: 'demo-app-secret',
    VILLE_DE_TOURS__DEMO_X_ACCESS_TOKEN: '1880000000000000001-demo',
    VILLE_DE_TOURS__DEMO_X_ACCESS_SECRET: 'demo-access-secret',
    VILLE_DE_TOURS__DEMO_BSKY_IDENTIFIER: bsky.handle,
    VILLE_DE_TOURS__DEMO_BSKY_APP_PASSWORD: bsky.password,
    VILLE_DE_TOURS__DEMO_MASTODON_TOKEN: 'demo-mastodon-token',
  });
  stops.push(async () => {
    // Leave the shared Redis as it was found.
    await removeKeys(config.redisUrl, prefix);
  });
  for (
    let i = 0;
    (await fetch(`${base}/readyz`)
      .then((r) => r.status)
      .catch(() => 0)) !== 200;
    i++
  ) {
    if (i > 150) throw new Error('the API did not become ready within 30 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  // A token is printed only to a person at a terminal; a log or a pipe gets the way to make one.
  const tokenHint = `DATABASE_URL=${path.relative(root, path.join(dir, 'sunset.db'))} pnpm sunset token create --org ${ORG} --name <name> --role admin --person <you>`;
  if (config.showTokens) {
    say(`dashboard: ${c.cyan(base)}  (sign in with the admin token below)`);
    say(`admin token: ${tokens['dircom']}`);
  } else {
    say(`dashboard: ${c.cyan(base)}`);
    say(`no token printed (the output is not a terminal); to sign in, make one: ${tokenHint}`);
  }

  step(
    `applying the plan (sunset at ${new Date(demoSunset).toLocaleTimeString('fr-FR')}, in ${Math.round((demoSunset - Date.now()) / 1000)} s)…`,
  );
  const applied = await api<{
    counts: Record<string, number>;
    diff: { mark: string; network: Network; kind: string; postId?: string; dueAt: string; parts: number }[];
  }>(
    base,
    tokens['planification']!,
    'POST',
    '/v1/plans?file=ville-de-tours.yaml',
    readFileSync(planFile, 'utf8'),
    'application/yaml',
  );
  if (applied.status !== 200) throw new Error(`the plan was refused: ${JSON.stringify(applied.body)}`);
  for (const e of applied.body.diff) {
    say(
      `  ${c.green(e.mark)} ${new Date(e.dueAt).toLocaleTimeString('fr-FR')}  ${NETWORK_LABELS[e.network].padEnd(8)} ${e.kind === 'post' ? `post ${e.postId}${e.parts > 1 ? ` (thread of ${e.parts})` : ''}` : e.kind === 'profile' ? 'dormant profile' : 'X policy at the sunset'}`,
    );
  }

  // What happens, as it happens: every change of state on every network.
  const seen = new Map<string, string>();
  const extra: { label: string; route: string; postId: string }[] = [];
  const watch = async (): Promise<{ rows: Row[]; open: number }> => {
    const current = await api<{ rows: Row[] }>(base, tokens['dircom']!, 'GET', '/v1/plans/current');
    const rows = [...current.body.rows];
    for (const e of extra) {
      const got = await api<{ networks: Row['networks'] }>(base, tokens['dircom']!, 'GET', e.route);
      rows.push({ key: e.label, kind: 'post', postId: e.postId, dueAt: '', networks: got.body.networks });
    }
    let open = 0;
    for (const row of rows) {
      for (const n of NETWORKS) {
        const s = row.networks[n];
        if (!s) continue;
        if (s.status === 'queued' || s.status === 'sending') open += 1;
        const key = `${row.key}/${n}`;
        const line =
          row.kind === 'policy' && s.status === 'needs-attention'
            ? `${doc.sunset.x_after} from now on (${s.checklist?.length ?? 0} steps to do by hand)`
            : `${s.status}${s.parts > 1 ? ` ${s.published}/${s.parts}` : ''}`;
        if (seen.get(key) === line || s.status === 'queued') continue;
        seen.set(key, line);
        const what =
          row.kind === 'profile'
            ? 'dormant profile'
            : row.kind === 'policy'
              ? 'X policy'
              : row.key.replace(/^post\./, 'post ');
        const colour =
          s.status === 'published'
            ? c.green
            : s.status === 'skipped'
              ? c.yellow
              : s.status === 'failed'
                ? c.red
                : (t: string) => t;
        say(
          `  ${NETWORK_LABELS[n].padEnd(8)} ${what}: ${colour(line)}${s.status === 'skipped' || s.status === 'failed' ? c.dim(` (${s.lastError})`) : ''}`,
        );
      }
    }
    return { rows, open };
  };
  const until = async (ms: number) => {
    while (Date.now() < ms) {
      await watch();
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  await until(t0 + 5_000);
  step('an ordinary post from the editors, before the sunset: mirrored to X, Bluesky and Mastodon');
  const ordinary = await api<{ id: string }>(base, tokens['redaction']!, 'POST', '/v1/posts', {
    text: 'Ce week-end, les Rendez-vous de l’Histoire au château de Tours : entrée libre, samedi et dimanche de 10 h à 18 h.',
  });
  extra.push({
    label: 'ordinary post (before the sunset)',
    route: `/v1/posts/${ordinary.body.id}`,
    postId: ordinary.body.id,
  });

  await until(demoSunset + 10_000);
  step(
    'after the sunset: an ordinary post aimed at X too — X refuses it (crisis posts only), the others take it',
  );
  const refused = await api<{ id: string }>(base, tokens['redaction']!, 'POST', '/v1/posts', {
    text: 'Marché de Noël place de la Résistance à partir du 27 novembre.',
    networks: ['x', 'bluesky', 'mastodon'],
  });
  extra.push({
    label: 'ordinary post (after the sunset)',
    route: `/v1/posts/${refused.body.id}`,
    postId: refused.body.id,
  });

  await until(demoSunset + 13_000);
  step('a crisis: sent by the duty officer, approved by a second person, posted everywhere — X included');
  const crisis = await api<{ id: string; state: string }>(base, tokens['astreinte']!, 'POST', '/v1/crisis', {
    text: 'Crue de la Loire : les quais bas sont fermés à partir de 14 h. Ne stationnez pas en bord de Loire.',
  });
  say(`  crisis ${crisis.body.id}: ${crisis.body.state}`);
  const approval = await api<{ state: string }>(
    base,
    tokens['chef-de-salle']!,
    'POST',
    `/v1/crisis/${crisis.body.id}/approve`,
  );
  say(`  approved by chef-de-salle: ${approval.body.state}`);
  extra.push({
    label: 'crisis (after the sunset)',
    route: `/v1/crisis/${crisis.body.id}`,
    postId: crisis.body.id,
  });

  let final: Row[];
  const deadline = Date.now() + 90_000;
  for (;;) {
    const { rows, open } = await watch();
    final = rows;
    if (open === 0 && Date.now() > demoSunset + 15_000) break;
    if (Date.now() > deadline) {
      say(c.red('some steps are still open after 90 s; the summary shows where they stand'));
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }

  // The summary: what was posted where, with links on the sandbox servers.
  const link = (network: Network, id: string) =>
    network === 'x'
      ? `${x.url}/2/tweets/${id}`
      : network === 'mastodon'
        ? `${mastodon.url}/api/v1/statuses/${id}`
        : `${bluesky.pdsUrl}/xrpc/com.atproto.repo.getRecord?repo=${bsky.did}&collection=app.bsky.feed.post&rkey=${id.split('/').pop()}`;
  process.stdout.write(`\n${c.bold('Summary')}\n`);
  let problems = 0;
  for (const row of final) {
    const name =
      row.kind === 'profile'
        ? 'dormant profile'
        : row.kind === 'policy'
          ? 'X policy at the sunset'
          : row.key.replace(/^post\./, 'post ');
    process.stdout.write(`${c.bold(name)}\n`);
    for (const n of NETWORKS) {
      const s = row.networks[n];
      if (!s) continue;
      const ok =
        s.status === 'published' ||
        s.status === 'skipped' ||
        (row.kind === 'policy' && s.status === 'needs-attention');
      if (!ok) problems += 1;
      const mark = ok ? c.green('✓') : c.red('✗');
      process.stdout.write(
        `  ${mark} ${NETWORK_LABELS[n].padEnd(8)} ${s.status}${s.status === 'skipped' ? c.dim(` — ${s.lastError}`) : ''}\n`,
      );
      const deliveries = await store.deliveries.list({
        organisationId: ORG,
        ...(row.postId ? { postId: row.postId } : {}),
        network: n,
      });
      const d = deliveries.find((x) => (row.kind === 'post' ? true : x.kind === row.kind));
      for (const p of d?.parts ?? [])
        if (p.remoteId) process.stdout.write(`      ${c.dim(link(n, p.remoteId))}\n`);
      if (row.kind === 'profile' && n === 'x' && x.profile) {
        process.stdout.write(`      X profile now: "${x.profile.name}" — ${x.profile.description}\n`);
        const banner = x.profile.banner;
        if (banner) {
          const file = path.join(
            dir,
            `x-banner-as-uploaded.${banner.mediaType === 'image/jpeg' ? 'jpg' : 'png'}`,
          );
          writeFileSync(file, banner.data);
          process.stdout.write(
            `      generated flat-ECG banner: ${banner.data.length.toLocaleString('en')} bytes, saved as ${path.relative(root, file)}\n`,
          );
        }
      }
      for (const item of row.kind === 'policy' ? (s.checklist ?? []) : [])
        process.stdout.write(`      ☐ ${item}\n`);
    }
  }
  const verify = await api<{ ok: boolean; checked: number; firstBad?: { seq: number; reason: string } }>(
    base,
    tokens['archives']!,
    'GET',
    '/v1/audit/verify',
  );
  process.stdout.write(
    `\naudit verify: ${verify.body.ok ? c.green(`intact, ${verify.body.checked} entries`) : c.red(`broken at ${verify.body.firstBad?.seq}: ${verify.body.firstBad?.reason}`)}\n`,
  );
  process.stdout.write(
    `posts on the sandboxes: X ${x.posts.length}, Bluesky ${await countBluesky(bluesky.pdsUrl, bsky.did)}, Mastodon ${mastodon.statuses.length}\n`,
  );
  process.stdout.write(
    `the demo took ${Math.round((Date.now() - started) / 1000)} s; its data is in ${path.relative(root, dir)}/\n`,
  );
  const ok = problems === 0 && verify.body.ok;
  process.stdout.write(
    ok
      ? c.green(c.bold('✓ every step of the exit is done\n'))
      : c.red(c.bold(`✗ ${problems} step(s) not done\n`)),
  );

  if (config.keep) {
    process.stdout.write(
      `\nThe dashboard stays up at ${c.cyan(base)} (${config.showTokens ? `admin token ${tokens['dircom']}` : `make a token: ${tokenHint}`}). Ctrl-C stops everything.\n`,
    );
    await new Promise(() => undefined);
  }
  await stopAll(ok ? 0 : 1);
}

async function countBluesky(pds: string, did: string): Promise<number> {
  const res = await fetch(
    `${pds}/xrpc/com.atproto.repo.listRecords?repo=${did}&collection=app.bsky.feed.post&limit=100`,
  );
  const body = (await res.json()) as { records?: unknown[] };
  return body.records?.length ?? 0;
}

main().catch((err: unknown) => {
  process.stderr.write(`${c.red('sunset demo failed:')} ${(err as Error).stack ?? String(err)}\n`);
  void stopAll(1);
});
