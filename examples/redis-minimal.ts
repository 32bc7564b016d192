// routing-context with Redis: one shared Redis, each sandbox in its own key namespace.
//
//   npx tsup && node --experimental-strip-types examples/redis-minimal.ts   (Node >= 22.6)
//   prints the physical keys: "pr-142:cart:7" for the routed request, "main:cart:7" for baseline
import { Redis } from 'ioredis';
import { withRoutingKey } from 'routing-context';
import { routedRedis } from 'routing-context/redis';

const raw = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const redis = routedRedis(raw, { baselinePrefix: 'main' }); // same type as `raw`

await withRoutingKey('pr-142', () => redis.set('cart:7', '{"items":2}')); // as inside a routed request
await redis.set('cart:7', '{"items":5}'); // baseline
console.log(await raw.keys('*cart:7')); // [ 'pr-142:cart:7', 'main:cart:7' ]
console.log(await withRoutingKey('pr-142', () => redis.keys('cart:*'))); // [ 'cart:7' ]: its own only
await raw.del('pr-142:cart:7', 'main:cart:7');
raw.disconnect();
