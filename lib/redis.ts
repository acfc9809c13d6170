/** `express-session-management/redis`: the coordinator for several processes sharing Redis. */
export { redisCoordinator, RedisCoordinator, type RedisCoordinatorOptions, type RedisScriptClient } from './coordination/redis/redis-coordinator';
