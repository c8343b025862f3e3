/**
 * The worker's periodic audit checkpoint (docs/audit.md): every interval, when the chain head has
 * moved since the newest checkpoint in the folder, a new one is signed and written there, named by
 * its seq, so that several workers writing the same head leave one file.
 */
import type { KeyObject } from 'node:crypto';
import {
  CheckpointError,
  makeCheckpoint,
  newestCheckpoint,
  writeCheckpointFile,
  type Checkpoint,
  type Store,
} from '@sunset/store';

export interface AuditCheckpointer {
  /** One round now: whether a file was written. */
  tick(): Promise<boolean>;
  stop(): Promise<void>;
}

export function startAuditCheckpoints(options: {
  store: Store;
  key: KeyObject;
  dir: string;
  intervalMs: number;
  logger: { info(fields: object, message: string): void; error(fields: object, message: string): void };
}): AuditCheckpointer {
  const { store, key, dir, logger } = options;
  let last: Checkpoint | undefined;
  let running: Promise<boolean> | undefined;

  async function round(): Promise<boolean> {
    const head = await store.audit.head();
    if (last?.seq === head.seq && last.hash === head.hash) return false;
    // Another worker, or the CLI, may have written a newer one meanwhile.
    const newest = newestCheckpoint(dir, key)?.checkpoint;
    if (newest && newest.seq >= (last?.seq ?? -1)) last = newest;
    if (last?.seq === head.seq && last.hash === head.hash) return false;
    const cp = await makeCheckpoint(store, key, last ? { base: last } : {});
    const { file, written } = writeCheckpointFile(dir, cp);
    last = cp;
    if (written) logger.info({ seq: cp.seq, file }, 'audit checkpoint signed');
    return written;
  }

  function tick(): Promise<boolean> {
    running ??= round()
      .catch((err: unknown) => {
        // Loud: a chain that contradicts its last checkpoint was tampered with.
        logger.error(
          { err: (err as Error).message, dir },
          err instanceof CheckpointError
            ? 'audit checkpoint refused: the log does not agree with the last checkpoint'
            : 'audit checkpoint not written',
        );
        return false;
      })
      .finally(() => (running = undefined));
    return running;
  }

  const timer = setInterval(() => void tick(), options.intervalMs);
  timer.unref();
  void tick();
  return {
    tick,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
