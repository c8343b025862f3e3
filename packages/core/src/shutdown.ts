/**
 * How a service process stops on SIGTERM or SIGINT: once, closing its parts in the order given
 * (what takes work first, the connections last), then exiting 0, or 1 if a step failed.
 */
import type { Logger } from './logger.ts';

export function onShutdown(logger: Logger, steps: readonly (() => Promise<unknown>)[]): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    void steps
      .reduce<Promise<unknown>>((done, step) => done.then(step), Promise.resolve())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err: (err as Error).message }, 'error while stopping');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
