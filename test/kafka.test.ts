// Selective consumption on a real broker: one topic with 3 partitions, a baseline consumer group
// and two sandbox consumers (sb-a, sb-b, each in its own group from sandboxGroupId), 10,000
// messages with no key, key ka (→ sb-a), kb (→ sb-b) and kz (a sandbox that does not fork this
// workload, so the baseline's). Every message must be handled exactly once overall, by the right
// consumer, with the right key visible to getRoutingKey() in the handler.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Consumer, EachBatchPayload, EachMessagePayload, Kafka, Producer } from 'kafkajs';
import {
  getRoutingKey,
  type RoutesSource,
  RoutesUnavailableError,
  routesApi,
  staticRoutes,
  withRoutingKey,
} from 'routing-context';
import {
  routingConsumer,
  routingProducer,
  sandboxGroupId,
  withMessageContext,
} from 'routing-context/kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  committed,
  createTopic,
  fastConsumer,
  newKafka,
  uniqueName,
  until,
  untilAllCommitted,
} from './helpers/kafka.js';
import { type RoutesEmulator, startRoutesEmulator } from './helpers/routes-emulator.js';

const TOTAL = 10_000;
const KEYS = [undefined, 'ka', 'kb', 'kz'] as const;
type Key = (typeof KEYS)[number];
const ROUTES = { ka: 'sb-a', kb: 'sb-b' } as const;
const BASELINE = { kind: 'Deployment', namespace: 'shop', name: 'orders' };
const PROCESSES = [
  { name: 'baseline', sandbox: '' },
  { name: 'sb-a', sandbox: 'sb-a' },
  { name: 'sb-b', sandbox: 'sb-b' },
] as const;
type ProcessName = (typeof PROCESSES)[number]['name'];

function keyOf(i: number): Key {
  return KEYS[i % KEYS.length];
}

function expectedProcess(key: Key): ProcessName {
  return key === 'ka' ? 'sb-a' : key === 'kb' ? 'sb-b' : 'baseline';
}

interface Handled {
  process: ProcessName;
  incarnation: number;
  i: number;
  expectedKey: Key | null;
  keyBefore: string | undefined;
  keyAfterAwait: string | undefined;
  partition: number;
  offset: number;
  routesLoaded: boolean;
}

/** Everything the consumers of one scenario saw. */
class Ledger {
  handled: Handled[] = [];
  skipped = new Map<ProcessName, number>();
  seen = new Map<ProcessName, number>();
  /** Batch handlers that saw a routing key outside withMessageContext. */
  leaks = 0;
  redelivered = 0;
  /** Group joins and crashes per process: a rejoin may legitimately redeliver uncommitted messages. */
  joins = new Map<ProcessName, number>();
  crashes: string[] = [];

  rejoined(process: ProcessName): boolean {
    return (this.joins.get(process) ?? 0) > 1 || this.crashes.some((c) => c.startsWith(process));
  }

  see(process: ProcessName): void {
    this.seen.set(process, (this.seen.get(process) ?? 0) + 1);
  }

  skip(process: ProcessName): void {
    this.skipped.set(process, (this.skipped.get(process) ?? 0) + 1);
    this.see(process);
  }

  async untilSeen(total: number, what: string): Promise<void> {
    await until(() => PROCESSES.every((p) => (this.seen.get(p.name) ?? 0) >= total), what, 90_000);
  }

  /** Exactly once overall, by the right process, with the right key in context. */
  verifyExactlyOnce(total: number): void {
    const byIndex = new Map<number, Handled[]>();
    for (const h of this.handled) {
      const list = byIndex.get(h.i) ?? [];
      list.push(h);
      byIndex.set(h.i, list);
    }
    const problems: string[] = [];
    for (let i = 0; i < total; i++) {
      const list = byIndex.get(i) ?? [];
      const key = keyOf(i);
      // Exactly once, unless the consumer's group rebalanced or it crashed: then Kafka's
      // at-least-once contract allows redelivery of what was handled but not yet committed.
      const redelivered = list.length > 1 && list.every((h) => this.rejoined(h.process));
      if (redelivered) this.redelivered += list.length - 1;
      if (list.length !== 1 && !redelivered) {
        problems.push(
          `message ${i} (${key}) handled ${list.length} times (joins ${JSON.stringify([...this.joins])}, crashes ${JSON.stringify(this.crashes)})`,
        );
      }
      for (const h of list) {
        if (h.process !== expectedProcess(key))
          problems.push(`message ${i} (${key}) handled by ${h.process}`);
        if (h.keyBefore !== key || h.keyAfterAwait !== key) {
          problems.push(
            `message ${i}: getRoutingKey() was ${h.keyBefore}/${h.keyAfterAwait}, expected ${key}`,
          );
        }
        if (!h.routesLoaded) problems.push(`message ${i} handled before the routes loaded`);
      }
      if (problems.length > 20) break;
    }
    expect(problems).toEqual([]);
    expect(this.leaks).toBe(0);
    expect(this.handled.length).toBe(total + this.redelivered);
    if (this.redelivered > 0) {
      console.warn(
        `${this.redelivered} messages redelivered after a rebalance: ${JSON.stringify([...this.joins])}`,
      );
    }
    const count = (p: ProcessName) =>
      Array.from({ length: total }, (_, i) => expectedProcess(keyOf(i)) === p).filter(Boolean).length;
    for (const p of PROCESSES) expect(this.skipped.get(p.name) ?? 0).toBe(total - count(p.name));
  }
}

/** Produces messages [from, to): per chunk of 500, one concurrent send per key, each in its own context. */
async function produce(producer: Producer, topic: string, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += 500) {
    const end = Math.min(to, start + 500);
    await Promise.all(
      KEYS.map((key) => {
        const messages: { value: string }[] = [];
        for (let i = start; i < end; i++) {
          if (keyOf(i) === key) messages.push({ value: JSON.stringify({ i, k: key ?? null }) });
        }
        return withRoutingKey(key, () => producer.send({ topic, messages }));
      }),
    );
  }
}

type Mode = 'eachMessage' | 'eachBatch';

interface Started {
  consumer: Consumer;
  routes: RoutesSource;
  process: ProcessName;
  groupId: string;
}

async function startProcess(
  kafka: Kafka,
  topic: string,
  group: string,
  proc: (typeof PROCESSES)[number],
  mode: Mode,
  ledger: Ledger,
  routes: RoutesSource,
  opts: { incarnation?: number; slow?: boolean; loaded?: () => boolean } = {},
): Promise<Started> {
  const groupId = sandboxGroupId(group, proc.sandbox);
  const incarnation = opts.incarnation ?? 1;
  const consumer = routingConsumer(kafka.consumer(fastConsumer(groupId)), {
    routes,
    sandboxName: proc.sandbox,
    onSkip: () => ledger.skip(proc.name),
  });
  consumer.on(consumer.events.GROUP_JOIN, () =>
    ledger.joins.set(proc.name, (ledger.joins.get(proc.name) ?? 0) + 1),
  );
  consumer.on(consumer.events.CRASH, (e) => ledger.crashes.push(`${proc.name}: ${e.payload.error.message}`));
  const record = async (partition: number, message: { value: Buffer | null; offset: string }) => {
    const keyBefore = getRoutingKey();
    const routesLoaded = opts.loaded?.() ?? true;
    await sleep(opts.slow ? 1 : 0);
    const { i, k } = JSON.parse(String(message.value)) as { i: number; k: Key | null };
    ledger.handled.push({
      process: proc.name,
      incarnation,
      i,
      expectedKey: k,
      keyBefore,
      keyAfterAwait: getRoutingKey(),
      partition,
      offset: Number(message.offset),
      routesLoaded,
    });
    ledger.see(proc.name);
  };
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  if (mode === 'eachMessage') {
    await consumer.run({
      partitionsConsumedConcurrently: 3,
      eachMessage: async ({ partition, message }: EachMessagePayload) => record(partition, message),
    });
  } else {
    await consumer.run({
      partitionsConsumedConcurrently: 3,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat }: EachBatchPayload) => {
        // Outside withMessageContext the batch handler is not in any message's context.
        if (getRoutingKey() !== undefined) ledger.leaks++;
        // Handle the batch's messages concurrently: every one must keep its own key.
        await Promise.all(batch.messages.map((m) => withMessageContext(m, () => record(batch.partition, m))));
        for (const m of batch.messages) resolveOffset(m.offset);
        await heartbeat();
      },
    });
  }
  return { consumer, routes, process: proc.name, groupId };
}

describe('routing-context/kafkajs on a real broker', () => {
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;

  beforeAll(async () => {
    kafka = newKafka();
    admin = kafka.admin();
    await admin.connect();
    producer = routingProducer(kafka.producer());
    await producer.connect();
  });

  afterAll(async () => {
    await producer?.disconnect();
    await admin?.disconnect();
  });

  it('runs on the Kafka version asked for (KAFKA_VERSION), or the launcher default', () => {
    const version = inject('kafkaVersion');
    if (process.env.KAFKA_VERSION && version !== 'external') expect(version).toBe(process.env.KAFKA_VERSION);
    expect(version).toMatch(/^(\d+\.\d+\.\d+|external)$/);
  });

  async function scenario(mode: Mode): Promise<void> {
    const topic = uniqueName(`orders-${mode}`);
    const group = uniqueName('orders');
    await createTopic(admin, topic, 3);
    await produce(producer, topic, 0, TOTAL / 2);
    const ledger = new Ledger();
    const started = await Promise.all(
      PROCESSES.map((p) => startProcess(kafka, topic, group, p, mode, ledger, staticRoutes(ROUTES))),
    );
    // The rest arrives while the consumers run.
    await produce(producer, topic, TOTAL / 2, TOTAL);
    try {
      await ledger.untilSeen(TOTAL, `every consumer to see ${TOTAL} messages`);
      ledger.verifyExactlyOnce(TOTAL);
      // Skipped messages are committed as handled: every group committed the whole topic.
      for (const s of started) await untilAllCommitted(admin, s.groupId, topic);
    } finally {
      await Promise.all(started.map((s) => s.consumer.disconnect()));
    }
    expect(started.map((s) => s.groupId).sort()).toEqual([group, `${group}-sb-a`, `${group}-sb-b`].sort());
  }

  it('eachMessage: each message handled exactly once, by the right consumer, in its own context', async () => {
    await scenario('eachMessage');
  }, 120_000);

  it('eachBatch: the same, with withMessageContext per message and resolveOffset/heartbeat', async () => {
    await scenario('eachBatch');
  }, 120_000);

  it('routes from a Routes API that is slow at start and goes down mid-run', async () => {
    const emulator: RoutesEmulator = await startRoutesEmulator([
      { routingKey: 'ka', sandbox: 'sb-a', baseline: BASELINE },
      { routingKey: 'kb', sandbox: 'sb-b', baseline: BASELINE },
      // kz belongs to a sandbox of another workload: this workload's baseline handles it.
      { routingKey: 'kz', sandbox: 'sb-z', baseline: { ...BASELINE, name: 'payments' } },
    ]);
    const topic = uniqueName('orders-api');
    const group = uniqueName('orders');
    await createTopic(admin, topic, 3);
    await produce(producer, topic, 0, TOTAL / 2);
    emulator.delayMs = 1500;
    const ledger = new Ledger();
    const errors = new Map<ProcessName, number>();
    const started = await Promise.all(
      PROCESSES.map((p) => {
        const routes = routesApi({
          url: emulator.url,
          baseline: BASELINE,
          sandboxName: p.sandbox,
          refreshMs: 100,
          onError: () => errors.set(p.name, (errors.get(p.name) ?? 0) + 1),
        });
        // Loaded = this process's own query was answered at least once.
        const loaded = () => (emulator.answered.get(p.sandbox) ?? 0) > 0;
        return startProcess(kafka, topic, group, p, 'eachMessage', ledger, routes, { loaded });
      }),
    );
    try {
      emulator.delayMs = 0;
      await ledger.untilSeen(TOTAL / 2, 'the first half');
      await emulator.down();
      const before = new Map(errors);
      await until(
        () => PROCESSES.every((p) => (errors.get(p.name) ?? 0) > (before.get(p.name) ?? 0)),
        'every routes client to notice the outage',
        30_000,
      );
      await produce(producer, topic, TOTAL / 2, TOTAL);
      await ledger.untilSeen(TOTAL, 'the second half, with the Routes API down');
      ledger.verifyExactlyOnce(TOTAL);
      for (const s of started) await untilAllCommitted(admin, s.groupId, topic);
    } finally {
      await Promise.all(started.map((s) => s.consumer.disconnect()));
      await Promise.all(started.map((s) => s.routes.close()));
      await emulator.close();
    }
  }, 120_000);

  it('a consumer restart mid-run loses nothing and redelivers only from the committed offset', async () => {
    // Kafka's contract is at-least-once: after a restart, delivery resumes at the group's committed
    // offset. Asserted: no message is lost; each incarnation handles a message at most once; the
    // new incarnation never handles a message below the offset committed when the old one stopped
    // (so duplicates, if any, are only the old incarnation's uncommitted tail); routing and context
    // stay right throughout.
    const topic = uniqueName('orders-restart');
    const group = uniqueName('orders');
    await createTopic(admin, topic, 3);
    await produce(producer, topic, 0, TOTAL);
    const ledger = new Ledger();
    const routes = staticRoutes(ROUTES);
    const [first, ...sandboxes] = await Promise.all(
      PROCESSES.map((p) =>
        startProcess(kafka, topic, group, p, 'eachMessage', ledger, routes, { slow: p.name === 'baseline' }),
      ),
    );
    let second: Started | undefined;
    try {
      await until(
        () => ledger.handled.filter((h) => h.process === 'baseline').length >= 1500,
        'baseline progress',
      );
      await first!.consumer.disconnect();
      const atRestart = await committed(admin, first!.groupId, topic);
      const handledByFirst = ledger.handled.filter((h) => h.process === 'baseline').length;
      second = await startProcess(kafka, topic, group, PROCESSES[0], 'eachMessage', ledger, routes, {
        incarnation: 2,
      });
      const baselineTotal = Array.from({ length: TOTAL }, (_, i) => keyOf(i)).filter(
        (k) => expectedProcess(k) === 'baseline',
      ).length;
      await until(
        () =>
          new Set(ledger.handled.filter((h) => h.process === 'baseline').map((h) => h.i)).size >=
          baselineTotal,
        'the baseline to handle all its messages',
        90_000,
      );
      await untilAllCommitted(admin, first!.groupId, topic);

      const baseline = ledger.handled.filter((h) => h.process === 'baseline');
      const secondRun = baseline.filter((h) => h.incarnation === 2);
      expect(handledByFirst).toBeLessThan(baselineTotal);
      expect(secondRun.length).toBeGreaterThan(0);
      for (const inc of [1, 2]) {
        const ids = baseline.filter((h) => h.incarnation === inc).map((h) => h.i);
        expect(new Set(ids).size).toBe(ids.length);
      }
      const belowCommit = secondRun.filter((h) => h.offset < (atRestart.get(h.partition) ?? -1));
      expect(belowCommit).toEqual([]);
      for (const h of baseline) {
        expect(expectedProcess(h.expectedKey ?? undefined)).toBe('baseline');
        expect(h.keyBefore).toBe(h.expectedKey ?? undefined);
        expect(h.keyAfterAwait).toBe(h.expectedKey ?? undefined);
      }
      const duplicates = baseline.length - new Set(baseline.map((h) => h.i)).size;
      // Reported for the record; bounded by what the first incarnation handled after its last commit.
      expect(duplicates).toBeLessThanOrEqual(handledByFirst);

      // The sandboxes ran throughout: exactly once for them.
      await until(
        () => sandboxes.every((s) => (ledger.seen.get(s.process) ?? 0) >= TOTAL),
        'the sandboxes to see everything',
      );
      for (const s of sandboxes) {
        const mine = ledger.handled.filter((h) => h.process === s.process);
        expect(new Set(mine.map((h) => h.i)).size).toBe(mine.length);
        expect(mine.length).toBe(TOTAL / 4);
        expect(
          mine.every((h) => expectedProcess(keyOf(h.i)) === s.process && h.keyBefore === keyOf(h.i)),
        ).toBe(true);
      }
    } finally {
      await Promise.all([...sandboxes, second].map((s) => s?.consumer.disconnect()));
    }
  }, 150_000);

  it('run() rejects with RoutesUnavailableError when routes never load, and handles nothing', async () => {
    const emulator = await startRoutesEmulator([]);
    emulator.mode = 'http-500';
    const topic = uniqueName('orders-noroutes');
    const groupId = uniqueName('orders');
    await createTopic(admin, topic, 1);
    await produce(producer, topic, 0, 40);
    const routes = routesApi({ url: emulator.url, baseline: BASELINE, sandboxName: '' });
    const consumer = routingConsumer(kafka.consumer(fastConsumer(groupId)), {
      routes,
      sandboxName: '',
      routesWaitMs: 1500,
    });
    let handled = 0;
    try {
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const outcome = consumer.run({
        eachMessage: async () => {
          handled++;
        },
      });
      await expect(outcome).rejects.toBeInstanceOf(RoutesUnavailableError);
      await expect(outcome).rejects.toThrow(/routesWaitMs/);
      expect(handled).toBe(0);
      expect((emulator.requests.get('') ?? 0) > 0).toBe(true);
      const offsets = await committed(admin, groupId, topic);
      expect([...offsets.values()].every((o) => o === -1)).toBe(true);

      // disconnect() ends a pending wait at once.
      const waiting = routingConsumer(kafka.consumer(fastConsumer(uniqueName('orders'))), {
        routes,
        sandboxName: '',
        routesWaitMs: 600_000,
      });
      const pending = waiting.run({ eachMessage: async () => void handled++ });
      await waiting.disconnect();
      await expect(pending).rejects.toThrow(/disconnect\(\) was called/);
      expect(handled).toBe(0);
    } finally {
      await consumer.disconnect();
      await routes.close();
      await emulator.close();
    }
  }, 60_000);
});
