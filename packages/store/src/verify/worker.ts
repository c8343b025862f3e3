/**
 * A span of the chain verified in a worker thread: the calling thread's side (spanInWorker) and
 * the thread's entry point, both in this module, which each thread loads as its own.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { openReader, verifySpan, type Connection, type Span, type SpanReport } from './readers.ts';

interface WorkerTask extends Span {
  connection: Connection;
}

type WorkerMessage =
  | { type: 'progress'; checked: number }
  | { type: 'done'; report: SpanReport }
  | { type: 'failed'; message: string };

/** To a worker: its report is no longer needed; it stops after the batch under way. */
const CANCEL = 'cancel';

export interface Running {
  report: Promise<SpanReport>;
  /** Whether a content fault in the report was already checked the long way. */
  rechecked: boolean;
  /** Its report is no longer needed: it stops after the batch under way. */
  cancel(): void;
  /** Settles once the thread has exited (at once for a span verified in this thread). */
  exited: Promise<void>;
}

/** A span verified in a worker thread (this same module, see the end of the file). */
export function spanInWorker(task: WorkerTask, onProgress: (checked: number) => void): Running {
  const worker = new Worker(new URL(import.meta.url), { workerData: { [WORKER_TASK]: task } });
  let exited = false;
  const gone = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const report = new Promise<SpanReport>((resolve, reject) => {
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'progress') onProgress(message.checked);
      else if (message.type === 'done') resolve(message.report);
      else reject(new Error(`audit verification: ${message.message}`));
    });
    worker.on('error', reject);
    worker.on('exit', (code) => {
      exited = true;
      reject(new Error(`the audit verification worker stopped (exit code ${code})`));
    });
  });
  // Only an awaited report's failure matters: it is rethrown there.
  report.catch(() => undefined);
  // Asked to stop, not terminated: terminating a thread inside a call to better-sqlite3 (opening
  // the database, loading the addon, closing) aborts the whole process (a fatal N-API error).
  const cancel = () => {
    if (!exited) worker.postMessage(CANCEL);
  };
  return { report, rechecked: false, cancel, exited: gone };
}

const WORKER_TASK = 'sunsetVerifyAuditSpan';

class Cancelled extends Error {}

async function runWorkerTask(task: WorkerTask): Promise<void> {
  const port = parentPort!;
  let cancelled = false;
  port.on('message', (message: unknown) => {
    if (message === CANCEL) cancelled = true;
  });
  // The port alone does not keep this thread alive once its work is done.
  port.unref();
  try {
    const reader = await openReader(task.connection);
    try {
      const report = await verifySpan(reader, task, {
        prevHash: undefined,
        onBatch: (checked) => {
          if (cancelled) throw new Cancelled('cancelled');
          port.postMessage({ type: 'progress', checked } satisfies WorkerMessage);
        },
      });
      port.postMessage({ type: 'done', report } satisfies WorkerMessage);
    } finally {
      await reader.close();
    }
  } catch (err) {
    port.postMessage({ type: 'failed', message: (err as Error).message } satisfies WorkerMessage);
  }
}

const task = isMainThread ? undefined : (workerData as Record<string, WorkerTask> | null)?.[WORKER_TASK];
if (task) void runWorkerTask(task);
