/**
 * `sunset audience page <plan> --out <dir>`: the "find us" page as a static file for the
 * organisation's website; `sunset audience stats <org> [--csv]`: the follower counts the worker
 * has read, per network.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { renderFindUsPage } from '@sunset/assets';
import { NETWORK_LABELS } from '@sunset/core';
import { followerStats, NoPlanError, OrgSettingsCache, type OrgSettings } from '@sunset/engine/outbox';
import { formatLocal, readPlanFile } from '@sunset/plan';
import { CliExit } from '../exit.ts';
import type { Io } from '../io.ts';
import { renderDiagnostics } from '../render/diagnostics.ts';
import { withStore } from '../state.ts';
import { displayName } from './plan.ts';

export function audienceCommand(io: Io): Command {
  const audience = new Command('audience').description(
    'bring the audience along: the "find us" page of the accounts to follow after X',
  );

  audience
    .command('page')
    .description(
      'write the "find us" page (index.html: every account of the plan with its link and QR code, the starter pack, ' +
        'rel="me" links and the fediverse:creator tag; no script, nothing loaded from elsewhere) for the organisation\'s website',
    )
    .argument('<plan>', 'plan file (YAML)')
    .requiredOption('-o, --out <dir>', 'folder to write index.html to (created if missing)')
    .addHelpText(
      'after',
      '\nExit status: 0 when the page is written, 1 when the plan is invalid or names no Bluesky or Mastodon account, ' +
        '2 on bad usage.\n' +
        '\nThe API serves the same page at /find/<organisation id> once the plan is applied.\n' +
        '\nExample:\n  $ pnpm sunset audience page config/plans/ville-de-tours.yaml --out out/trouvez-nous',
    )
    .action(async (file, options) => {
      const c = io.colours;
      const name = displayName(file);
      const r = readPlanFile(name, { secretsDir: io.config.secretsDir });
      if (!r.plan) {
        renderDiagnostics(io, r.diagnostics);
        io.out(`${c.red('✗')} ${name} is not valid: no page written`);
        throw new CliExit(1);
      }
      const page = await renderFindUsPage(r.plan.document, { static: true });
      if (!page) {
        io.err(
          `${name} names no Bluesky or Mastodon account (networks, audience.accounts): no page to write`,
        );
        throw new CliExit(1);
      }
      mkdirSync(options.out, { recursive: true });
      const target = path.join(options.out, 'index.html');
      writeFileSync(target, page.html);
      io.out(`${c.green('✓')} ${displayName(target)}  ${Buffer.byteLength(page.html)} bytes`);
    });

  audience
    .command('stats')
    .description(
      'the follower counts the worker has read on each network (Bluesky and Mastodon hourly, X daily within its budget): ' +
        'first and latest reading and the change, or every reading as CSV',
    )
    .argument('<organisation>', 'organisation id')
    .option('--csv', 'print every reading as CSV: at,network,followers')
    .option('--json', 'print the history as JSON')
    .addHelpText(
      'after',
      '\nReads the store (DATABASE_URL). Exit status: 0, or 1 when there is no such organisation.\n' +
        '\nExamples:\n  $ pnpm sunset audience stats ville-de-tours\n' +
        '  $ pnpm sunset audience stats ville-de-tours --csv > abonnes.csv',
    )
    .action(async (organisation, options) => {
      const c = io.colours;
      const { stats, settings } = await withStore(io, async (store) => {
        if (!(await store.organisations.get(organisation))) {
          throw new CliExit(1, `there is no organisation "${organisation}"`);
        }
        let settings: OrgSettings | undefined;
        try {
          settings = await new OrgSettingsCache(store).get(organisation);
        } catch (err) {
          if (!(err instanceof NoPlanError)) throw err;
        }
        return { stats: await followerStats(store, organisation, settings), settings };
      });
      if (options.csv) {
        const rows = stats.networks
          .flatMap((n) => n.history.map((p) => ({ ...p, network: n.network })))
          .sort((a, b) => a.at.localeCompare(b.at));
        io.out(['at,network,followers', ...rows.map((p) => `${p.at},${p.network},${p.count}`)].join('\n'));
        return;
      }
      if (options.json) {
        io.out(JSON.stringify(stats, null, 2));
        return;
      }
      const zone = settings?.document.organisation.timezone ?? 'UTC';
      const sunset = stats.sunset ? `, sunset ${formatLocal(new Date(stats.sunset), zone)}` : '';
      io.out(c.bold(`Followers of ${organisation}${sunset}`));
      for (const n of stats.networks) {
        const label = NETWORK_LABELS[n.network].padEnd(9);
        if (!n.first || !n.latest) {
          io.out(`${label} no reading yet`);
        } else {
          const change = n.change ?? 0;
          const readings = `${n.history.length} reading${n.history.length === 1 ? '' : 's'}`;
          const signed = change > 0 ? `+${change}` : String(change);
          io.out(
            `${label} ${n.first.count} → ${n.latest.count}  ${signed.padStart(6)}  ${readings}, ` +
              `${formatLocal(new Date(n.first.at), zone)} → ${formatLocal(new Date(n.latest.at), zone)}`,
          );
        }
      }
      for (const n of stats.networks) {
        if (n.task?.status && n.task.status !== 'ok')
          io.out(
            `${c.yellow('!')} ${NETWORK_LABELS[n.network]}: ${n.task.status}${n.task.message ? ` (${n.task.message})` : ''}`,
          );
      }
    });

  return audience;
}
