/** `sunset profile restore`: puts back the profile a network had before the dormant profile. */
import { readFileSync } from 'node:fs';
import { Command } from '@commander-js/extra-typings';
import {
  developmentStateKey,
  isNetwork,
  NETWORK_LABELS,
  NETWORKS,
  readStateKey,
  silentLogger,
} from '@sunset/core';
import { CliExit } from '../exit.ts';
import type { Io } from '../io.ts';
import { withStore } from '../state.ts';

export function profileCommand(io: Io): Command {
  const profile = new Command('profile').description('the dormant profile: put the old one back');

  profile
    .command('restore')
    .description(
      'put back the profile a network had just before the dormant profile was applied (the snapshot the worker kept)',
    )
    .argument('<organisation>', 'the organisation id of the plan')
    .argument('<network>', `one of ${NETWORKS.join(', ')}`)
    .addHelpText(
      'after',
      '\nIt logs in with the credentials of the applied plan (resolved from this environment), then sets the\n' +
        'name, bio, link, location, fields, avatar and banner of the snapshot. The change is in the audit log.\n' +
        "A Bluesky session is kept in the store sealed with the worker's state key: set SUNSET_STATE_KEY or\n" +
        "SUNSET_STATE_KEY_FILE as the worker has it (required in production; in development the data folder's\n" +
        'state.key, made 0600 on first use).\n' +
        '\nExit status: 0 restored, 1 no snapshot or the network refused, 2 bad usage, 78 no usable state key.\n' +
        '\nExample:\n  $ pnpm sunset profile restore region-bretagne x',
    )
    .action(async (organisation, network) => {
      // Loaded here, not at the top: the engine's worker side brings every connector along.
      const { ConnectorRegistry, OrgSettingsCache, restoreProfile } = await import('@sunset/engine');
      if (!isNetwork(network))
        throw new CliExit(2, `sunset: "${network}" is not one of ${NETWORKS.join(', ')}`);
      const xCa = io.config.xCaFile ? readFileSync(io.config.xCaFile, 'utf8') : undefined;
      // The worker's key: the session this login leaves is one the worker can resume, never clear.
      const stateKey = readStateKey(io.config.stateKey) ?? developmentStateKey(io.config.dataDir);
      if ('problem' in stateKey) throw new CliExit(78, `sunset: ${stateKey.problem}`);
      const result = await withStore(io, async (store) => {
        let settings;
        try {
          settings = await new OrgSettingsCache(store).get(organisation);
        } catch (err) {
          throw new CliExit(1, `sunset: ${(err as Error).message}`);
        }
        const registry = new ConnectorRegistry({
          store,
          env: io.config.env,
          secretsDir: io.config.secretsDir,
          logger: silentLogger(),
          ...(xCa ? { xCa } : {}),
          // Restoring reads the current profile first, its images through the guarded client.
          fetchAllow: io.config.fetchAllow,
          stateKey: stateKey.key,
        });
        try {
          const connector = await registry.get(settings, network);
          return await restoreProfile({
            store,
            connector,
            organisationId: organisation,
            actor: io.config.actor,
          });
        } catch (err) {
          throw new CliExit(
            1,
            `sunset: cannot restore the ${NETWORK_LABELS[network]} profile of ${organisation}: ${(err as Error).message}`,
          );
        } finally {
          await registry.close();
        }
      });
      io.out(
        `${io.colours.green('✓')} ${NETWORK_LABELS[network]} profile of ${organisation} restored from the snapshot of ${result.takenAt.toISOString()}: ${result.restored.join(', ')}`,
      );
      for (const note of result.notes) io.out(`  note: ${note}`);
    });

  return profile;
}
