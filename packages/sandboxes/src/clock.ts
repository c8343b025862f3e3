/**
 * The sandboxes' clock: now in ms since the epoch, to a fraction of a millisecond. The sandboxes
 * stamp what they receive with it (`createdAtMs`, `atMs`), and a benchmark in the same process
 * reads it to time latencies of a few milliseconds.
 */
export const preciseNow = (): number => performance.timeOrigin + performance.now();

/**
 * The wall clock, for the times a sandbox tells its clients (created_at). performance.now()
 * follows a monotonic clock that drifts from the system's by milliseconds over a long run, and a
 * client compares these times with its own Date.now(), as it would a real server's.
 */
export const wallNow = (): number => Date.now();

/**
 * Where a sandbox reads the time (ms since the epoch), so a test can move it instead of waiting:
 * rate-limit windows, created_at, idempotency and media processing follow it.
 */
export type SandboxClock = () => number;
