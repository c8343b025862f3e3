/**
 * `sunset identity check <plan>`: the Bluesky handle's domain proof, the Mastodon profile's
 * verified links and, where the CLI reaches the deployment, the dormant X profile against what
 * the plan set: read now with the store (the worker's own comparison), or the worker's latest
 * reading through the API.
 */
import { readFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { Command } from '@commander-js/extra-typings';
import { silentLogger } from '@sunset/core';
import type { IdentityResult, IdentityStatus } from '@sunset/networks';
import { readPlanFile, type PlanDocument } from '@sunset/plan';
import { describeUrl } from '@sunset/store';
import { apiClientOf } from '../api-client.ts';
import { CliExit } from '../exit.ts';
import type { Io } from '../io.ts';
import { renderDiagnostics } from '../render/diagnostics.ts';
import { withStore } from '../state.ts';
import { displayName, xPrices } from './plan.ts';

interface XOutcome {
  result?: IdentityResult;
  /** Why there is no result and none is missing: the dormant profile has not been set yet. */
  note?: string;
}

interface IdentityRunsReply {
  runs: { at: string; results: { check: string; subject: string; status: string; message: string }[] }[];
}

/** The dormant X profile read now and compared as the worker does, with the applied plan in the store. */
async function xFromStore(io: Io, doc: PlanDocument, subject: string): Promise<XOutcome> {
  const unknown = (message: string): XOutcome => ({
    result: { check: 'x-profile', subject, status: 'unknown', message },
  });
  // Loaded here, not at the top: the engine's worker side brings every connector along.
  const { ConnectorRegistry, NoPlanError, OrgSettingsCache, xProfileCheck } = await import('@sunset/engine');
  const prices = xPrices(io);
  const xCa = io.config.xCaFile ? readFileSync(io.config.xCaFile, 'utf8') : undefined;
  const organisationId = doc.organisation.id;
  try {
    return await withStore(io, async (store) => {
      let settings;
      try {
        settings = await new OrgSettingsCache(store).get(organisationId);
      } catch (err) {
        if (err instanceof NoPlanError)
          return unknown(
            `no plan of ${organisationId} is applied in the store at ${describeUrl(io.config.databaseUrl)}: ` +
              'nothing to compare the X profile with',
          );
        throw err;
      }
      const registry = new ConnectorRegistry({
        store,
        env: io.config.env,
        secretsDir: io.config.secretsDir,
        logger: silentLogger(),
        ...(xCa ? { xCa } : {}),
        // The profile's images are read through the guarded client, as the worker reads them.
        fetchAllow: io.config.fetchAllow,
      });
      try {
        const result = await xProfileCheck(store, settings, await registry.get(settings, 'x'), prices);
        if (!result)
          return {
            note: 'the dormant X profile has not been set yet (its step has not run): nothing to compare',
          };
        // As the worker's own checks are: a person read the account (a billed read) and saw this.
        await store.audit.append({
          organisationId,
          actor: io.config.actor,
          action: 'identity.checked',
          network: 'x',
          outcome: result.status === 'failed' ? 'error' : 'ok',
          details: { by: 'sunset identity check', checks: 1, results: [{ ...result }] },
        });
        return { result };
      } catch (err) {
        return unknown(`the X profile cannot be checked (${(err as Error).message})`);
      } finally {
        await registry.close();
      }
    });
  } catch (err) {
    // The store not opening leaves the other checks standing: the X check alone could not be made.
    if (err instanceof CliExit && err.message)
      return unknown(err.message.replace(/^sunset: /, '').split('\n')[0]!);
    throw err;
  }
}

/** The worker's latest X check, as the API keeps it: the CLI never reads X over the API. */
async function xFromApi(io: Io, doc: PlanDocument, subject: string): Promise<XOutcome> {
  const api = apiClientOf(io)!;
  // The API answers for the token's organisation, which must be the plan's.
  const me = await api.json<{ organisationId: string }>('GET', '/v1/me');
  if (me.organisationId !== doc.organisation.id)
    return {
      result: {
        check: 'x-profile',
        subject,
        status: 'unknown',
        message: `the token is for ${me.organisationId}, not ${doc.organisation.id}: the worker's X check of ${doc.organisation.id} is not shown`,
      },
    };
  const { runs } = await api.json<IdentityRunsReply>('GET', '/v1/audience/identity');
  for (const run of runs) {
    const x = run.results.find((r) => r.check === 'x-profile');
    if (!x) continue;
    const status: IdentityStatus = x.status === 'ok' || x.status === 'failed' ? x.status : 'unknown';
    return {
      result: {
        check: 'x-profile',
        subject: x.subject || subject,
        status,
        message: `the worker's check of ${run.at} (through ${api.base}): ${x.message}`,
      },
    };
  }
  return {
    result: {
      check: 'x-profile',
      subject,
      status: 'unknown',
      message: `the worker has not checked the X profile yet (${api.base} has no X check)`,
    },
  };
}

async function xProfile(io: Io, doc: PlanDocument): Promise<XOutcome | undefined> {
  const x = doc.networks.x;
  if (!x || !doc.dormant_profile?.x) return undefined;
  const subject = x.account.startsWith('@') ? x.account : `@${x.account}`;
  if (io.config.databaseConfigured) return xFromStore(io, doc, subject);
  if (io.config.apiUrl) return xFromApi(io, doc, subject);
  return {
    result: {
      check: 'x-profile',
      subject,
      status: 'unknown',
      message:
        'skipped: the dormant X profile is compared with what the applied plan set, which needs the store ' +
        '(DATABASE_URL) or the API (SUNSET_API_URL and SUNSET_TOKEN)',
    },
  };
}

export function identityCommand(io: Io): Command {
  const identity = new Command('identity').description(
    "keep the name safe: check what proves the accounts are the organisation's",
  );

  identity
    .command('check')
    .description(
      "check that the Bluesky handle's domain names the account (DNS TXT _atproto.<domain> or " +
        'https://<domain>/.well-known/atproto-did), that every link of the Mastodon profile links back with rel="me", ' +
        'and that the dormant X profile still reads as the plan set it',
    )
    .argument('<plan>', 'plan file (YAML)')
    .option('--json', 'print the results as JSON')
    .addHelpText(
      'after',
      '\nExit status: 0 when every check passes, 1 when one fails or the plan is invalid, 3 when one could not be made ' +
        '(a server did not answer).\n' +
        "\nDNS servers: SUNSET_DNS_SERVERS (default the system's); pages are read through the guarded client (SUNSET_FETCH_ALLOW).\n" +
        '\nThe dormant X profile (name, bio, link, location, images by hash) is compared with what the applied plan set:\n' +
        'with DATABASE_URL the profile is read now (a billed X user read, within the X budget), with SUNSET_API_URL\n' +
        "the worker's latest check is shown; with neither it is skipped, which counts as a check that could not be made.\n" +
        '\nExample:\n  $ pnpm sunset identity check config/plans/ville-de-tours.yaml',
    )
    .action(async (file, options) => {
      const c = io.colours;
      const name = displayName(file);
      const r = readPlanFile(name, { secretsDir: io.config.secretsDir });
      if (!r.plan) {
        renderDiagnostics(io, r.diagnostics);
        io.out(`${c.red('✗')} ${name} is not valid: nothing checked`);
        throw new CliExit(1);
      }
      // Loaded here: the other commands (plan apply among them) never load network code.
      const { checkIdentity, createGuardedClient } = await import('@sunset/networks');
      const dns = new Resolver({ timeout: 5_000, tries: 2 });
      if (io.config.dnsServers.length > 0) dns.setServers([...io.config.dnsServers]);
      const results = await checkIdentity(r.plan.document, {
        dns,
        client: createGuardedClient({ allow: io.config.fetchAllow }),
      });
      const x = await xProfile(io, r.plan.document);
      if (x?.result) results.push(x.result);
      const notes = x?.note ? [x.note] : [];
      if (options.json) io.out(JSON.stringify({ results, ...(notes.length ? { notes } : {}) }, null, 2));
      else {
        const mark: Record<IdentityStatus, string> = {
          ok: c.green('✓'),
          failed: c.red('✗'),
          unknown: c.yellow('?'),
        };
        for (const res of results) io.out(`${mark[res.status]} ${res.check}  ${res.subject}  ${res.message}`);
        for (const note of notes) io.out(`- x-profile  ${note}`);
        if (results.length === 0 && notes.length === 0)
          io.out(`${name} has nothing to check: no Bluesky handle, no Mastodon link, no dormant X profile`);
      }
      if (results.some((x) => x.status === 'failed')) throw new CliExit(1);
      if (results.some((x) => x.status === 'unknown')) throw new CliExit(3);
    });

  return identity;
}
