/** `sunset assets render <plan> --out <dir>`: the dormant profile's generated images, as files. */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from '@commander-js/extra-typings';
import { PROFILE_IMAGE_SIZES, imageFileName, renderPlanImages } from '@sunset/assets';
import { NETWORK_LABELS } from '@sunset/core';
import { readPlanFile } from '@sunset/plan';
import { CliExit } from '../exit.ts';
import type { Io } from '../io.ts';
import { renderDiagnostics } from '../render/diagnostics.ts';
import { displayName } from './plan.ts';

const bytes = new Intl.NumberFormat('en-GB');

export function assetsCommand(io: Io): Command {
  const assets = new Command('assets').description(
    'render the images of the dormant "flat ECG" profile, to check them before they go out',
  );

  assets
    .command('render')
    .description(
      'render every banner and avatar the plan\'s dormant_profile generates ("generate: flat-ecg…"), ' +
        "at each network's size and within its byte limit, as <network>-<slot>.png (or .jpg when PNG is too big)",
    )
    .argument('<plan>', 'plan file (YAML)')
    .requiredOption('-o, --out <dir>', 'folder to write the images to (created if missing)')
    .addHelpText(
      'after',
      '\nExit status: 0 when the images are written (or the plan generates none), 1 when the plan is invalid, ' +
        '2 on bad usage.\n' +
        '\nExample:\n  $ pnpm sunset assets render config/plans/region-bretagne.yaml --out out/bretagne',
    )
    .action(async (file, options) => {
      const c = io.colours;
      const name = displayName(file);
      const r = readPlanFile(name, { secretsDir: io.config.secretsDir });
      if (!r.plan) {
        renderDiagnostics(io, r.diagnostics);
        io.out(`${c.red('✗')} ${name} is not valid: no image rendered`);
        throw new CliExit(1);
      }
      const images = await renderPlanImages(r.plan);
      if (images.length === 0) {
        // Nothing to do is not a failure: a plan without a dormant profile (a full exit) has no images.
        io.out(
          `${name} generates no image: no banner or avatar of its dormant_profile says "generate:" ` +
            '(e.g. banner: { generate: flat-ecg, caption: "Compte en veille" }); nothing written',
        );
        return;
      }
      mkdirSync(options.out, { recursive: true });
      for (const image of images) {
        const fileName = imageFileName(image);
        const target = path.join(options.out, fileName);
        // A PNG that became a JPEG (or back) would otherwise leave yesterday's file beside it.
        const other = imageFileName({
          ...image,
          mediaType: image.mediaType === 'image/png' ? 'image/jpeg' : 'image/png',
        });
        rmSync(path.join(options.out, other), { force: true });
        writeFileSync(target, image.data);
        const limit = PROFILE_IMAGE_SIZES[image.network][image.slot].maxBytes;
        io.out(
          `${c.green('✓')} ${displayName(target)}  ${NETWORK_LABELS[image.network]} ${image.slot}  ` +
            `${image.width}×${image.height}  ${bytes.format(image.data.byteLength)} / ${bytes.format(limit)} bytes` +
            c.dim(
              `  (${Math.round((image.data.byteLength / limit) * 100)}% of the limit, ${image.mediaType})`,
            ),
        );
      }
    });

  return assets;
}
