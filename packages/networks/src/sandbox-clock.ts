/**
 * The sandboxes' clock: now in ms since the epoch, to a fraction of a millisecond. The sandboxes
 * stamp what they receive with it (`createdAtMs`, `atMs`), and a benchmark in the same process
 * reads it to time latencies of a few milliseconds.
 */
export const preciseNow = (): number => performance.timeOrigin + performance.now();
