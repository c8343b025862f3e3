import { Command, CommanderError } from '@commander-js/extra-typings';
import { assetsCommand } from './commands/assets.ts';
import { audienceCommand } from './commands/audience.ts';
import { identityCommand } from './commands/identity.ts';
import { auditCommand } from './commands/audit.ts';
import { crisisCommand } from './commands/crisis.ts';
import { networksCommand } from './commands/networks.ts';
import { planCommand } from './commands/plan.ts';
import { postCommand } from './commands/post.ts';
import { profileCommand } from './commands/profile.ts';
import { tokenCommand } from './commands/token.ts';
import { CliExit } from './exit.ts';
import type { Io } from './io.ts';

export const VERSION = '0.1.0';

export function buildProgram(io: Io): Command {
  const program = new Command('sunset')
    .description(
      'Run an organisation\'s exit from X: scheduled farewells, the dormant "flat ECG" profile, crisis posts, ' +
        'and posts mirrored to Bluesky and Mastodon.',
    )
    .version(VERSION, '-V, --version');
  program.addCommand(planCommand(io));
  program.addCommand(networksCommand(io));
  program.addCommand(profileCommand(io));
  program.addCommand(auditCommand(io));
  program.addCommand(tokenCommand(io));
  program.addCommand(crisisCommand(io));
  program.addCommand(postCommand(io));
  program.addCommand(assetsCommand(io));
  program.addCommand(audienceCommand(io));
  program.addCommand(identityCommand(io));
  // Commands added with addCommand do not inherit these settings: apply them to every level,
  // so that no command calls process.exit and all output goes through `io`.
  const configure = (cmd: Command<unknown[], Record<string, unknown>, Record<string, unknown>>): void => {
    cmd
      .showHelpAfterError('(run with --help for usage)')
      .configureOutput({
        writeOut: (s) => io.out(s.replace(/\n$/, '')),
        writeErr: (s) => io.err(s.replace(/\n$/, '')),
        outputError: (s, write) => write(io.colours.red(s)),
      })
      .exitOverride();
    for (const sub of cmd.commands) configure(sub as typeof cmd);
  };
  configure(program as unknown as Parameters<typeof configure>[0]);
  return program;
}

/** Runs the CLI; returns the exit status instead of exiting, so it can run inside tests. */
export async function run(argv: string[], io: Io): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CliExit) {
      if (err.message) io.err(io.colours.red(err.message));
      return err.status;
    }
    if (err instanceof CommanderError) {
      // --help and --version end here with status 0; usage errors (Commander's status 1) with 2.
      return err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version'
        ? 0
        : 2;
    }
    io.err(io.colours.red(`sunset: ${err instanceof Error ? err.message : String(err)}`));
    return 70;
  }
}
