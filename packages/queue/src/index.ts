export {
  queueName,
  QUEUE_NAMES,
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
