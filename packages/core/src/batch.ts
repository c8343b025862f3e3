/**
 * Two ways of sharing work among concurrent callers.
 *
 * `batchOneAtATime`: requests go to `run` in batches, one batch at a time: each batch carries
 * every request that came while the one before was under way (at most `max`). A lone request
 * goes at once (or on the next turn of the event loop with `defer`, so that requests made in the
 * same turn go together). `run` answers each request by position, with a value or with a promise
 * of its own (a request retried alone, say); a batch that fails fails each of its requests. The
 * next batch starts when every answer of the one before has settled; with `concurrency` n, up to
 * n batches are under way at once (a request that comes while fewer are goes at once too).
 *
 * `shareInFlight`: concurrent calls with the same key share one call of `load`; nothing is kept
 * once it has settled, so an answer comes from a call begun at most one call's time earlier.
 */
export function batchOneAtATime<Req, Res>(
  run: (batch: Req[]) => Promise<(Res | Promise<Res>)[]>,
  options: { max?: number; defer?: boolean; concurrency?: number } = {},
): (req: Req) => Promise<Res> {
  const max = options.max ?? 100;
  const concurrency = options.concurrency ?? 1;
  const queued: { req: Req; resolve: (r: Res | Promise<Res>) => void; reject: (e: unknown) => void }[] = [];
  let running = 0;
  let scheduled = false;
  const pump = (): void => {
    if (running >= concurrency || queued.length === 0) return;
    running += 1;
    const batch = queued.splice(0, max);
    run(batch.map((q) => q.req))
      .then(
        async (answers) => {
          batch.forEach((q, i) => q.resolve(answers[i] as Res | Promise<Res>));
          await Promise.allSettled(answers);
        },
        (err: unknown) => batch.forEach((q) => q.reject(err)),
      )
      .finally(() => {
        running -= 1;
        pump();
      });
    pump();
  };
  return (req) =>
    new Promise<Res>((resolve, reject) => {
      queued.push({ req, resolve, reject });
      if (!options.defer) pump();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(() => {
          scheduled = false;
          pump();
        });
      }
    });
}

export function shareInFlight<K, V>(load: (key: K) => Promise<V>): (key: K) => Promise<V> {
  const inFlight = new Map<K, Promise<V>>();
  return (key) => {
    let call = inFlight.get(key);
    if (!call) {
      call = load(key).finally(() => inFlight.delete(key));
      inFlight.set(key, call);
    }
    return call;
  };
}

/**
 * `shared` as one caller waits for it: its `signal` ends this caller's wait, not the work that
 * others share.
 */
export function untilAborted<T>(shared: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return shared;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    shared.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
