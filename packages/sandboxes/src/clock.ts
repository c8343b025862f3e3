/**
 * The sandboxes' clock: now in ms since the epoch, to a fraction of a millisecond. The sandboxes
 * stamp what they receive with it (`createdAtMs`, `atMs`), and a benchmark in the same process
 * reads it to time latencies of a few milliseconds.
 */
export const preciseNow = (): number => performance.timeOrigin + performance.now();

/**
 * Where a sandbox reads the time (ms since the epoch), so a test can move it instead of waiting:
 * rate-limit windows, created_at, idempotency and media processing follow it.
 */
export type SandboxClock = () => number;
