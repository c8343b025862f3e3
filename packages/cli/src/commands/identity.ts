/** `sunset identity check <plan>`: the Bluesky handle's domain proof and the Mastodon profile's verified links. */
import { Resolver } from 'node:dns/promises';
import { Command } from '@commander-js/extra-typings';
import type { IdentityStatus } from '@sunset/networks';
import { readPlanFile } from '@sunset/plan';
import { CliExit } from '../exit.ts';
import type { Io } from '../io.ts';
import { renderDiagnostics } from '../render/diagnostics.ts';
import { displayName } from './plan.ts';

export function identityCommand(io: Io): Command {
  const identity = new Command('identity').description(
    "keep the name safe: check what proves the accounts are the organisation's",
  );

  identity
    .command('check')
    .description(
      "check that the Bluesky handle's domain names the account (DNS TXT _atproto.<domain> or " +
        'https://<domain>/.well-known/atproto-did) and that every link of the Mastodon profile links back with rel="me"',
    )
    .argument('<plan>', 'plan file (YAML)')
    .option('--json', 'print the results as JSON')
    .addHelpText(
      'after',
      '\nExit status: 0 when every check passes, 1 when one fails or the plan is invalid, 3 when one could not be made ' +
        '(a server did not answer).\n' +
        "\nDNS servers: SUNSET_DNS_SERVERS (default the system's); pages are read through the guarded client (SUNSET_FETCH_ALLOW).\n" +
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
      if (options.json) io.out(JSON.stringify({ results }, null, 2));
      else {
        const mark: Record<IdentityStatus, string> = {
          ok: c.green('✓'),
          failed: c.red('✗'),
          unknown: c.yellow('?'),
        };
        for (const res of results) io.out(`${mark[res.status]} ${res.check}  ${res.subject}  ${res.message}`);
        if (results.length === 0) io.out(`${name} has nothing to check: no Bluesky handle, no Mastodon link`);
      }
      if (results.some((x) => x.status === 'failed')) throw new CliExit(1);
      if (results.some((x) => x.status === 'unknown')) throw new CliExit(3);
    });

  return identity;
}
