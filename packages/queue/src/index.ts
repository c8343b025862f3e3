export {
  queueName,
  queueOfName,
  laneOf,
  LANES,
  QUEUE_NAMES,
  CRISIS_QUEUE_NAMES,
  PRIORITY,
  JOBS,
  BACKOFF_TYPE,
  DEFAULT_LIMITS,
  parseDeliverJob,
  parseLimits,
  jobIdFor,
  nextJobId,
  backoffStrategy,
  type DeliverJobData,
  type Lane,
  type Limiter,
  type PriorityClass,
} from './catalog.ts';
export {
  createRedis,
  checkRedis,
  waitForRedis,
  describeRedisUrl,
  RedisSetupError,
  START_REDIS_HINT,
  startRedisHint,
  type RedisCheck,
  type RedisRole,
} from './redis.ts';
export { Queues, deliverJobOptions, type DeliveryJobSpec, type QueuesOptions } from './queues.ts';
export { DueWaker, type DueWakerOptions, type NextDelayed } from './due-waker.ts';
