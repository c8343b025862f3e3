/** `sunset audience page <plan> --out <dir>`: the "find us" page as a static file for the organisation's website. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { renderFindUsPage } from '@sunset/assets';
import { readPlanFile } from '@sunset/plan';
import { CliExit } from '../exit.ts';
import type { Io } from '../io.ts';
import { renderDiagnostics } from '../render/diagnostics.ts';
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

  return audience;
}
