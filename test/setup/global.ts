// Global set-up for the whole suite: starts the shared real services the integration tests need.
//
// Kafka: a real single-node KRaft broker on 127.0.0.1 from the Maven jars (cached in the
// git-ignored .cache/kafka), started once and stopped at the end. `KAFKA_BROKERS=host:port` uses
// that broker instead; `KAFKA_VERSION` picks another version (default: the launcher's 3.9.x).
// A broker that cannot start fails the run with the reason: nothing is skipped.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** `host:port` of the Kafka broker the suite uses. */
    kafkaBrokers: string;
    /** The Kafka version started by the suite, or `'external'` with KAFKA_BROKERS. */
    kafkaVersion: string;
  }
}

interface KafkaLauncher {
  startKafka(options?: {
    version?: string;
    timeoutMs?: number;
    log?: (line: string) => void;
  }): Promise<{ brokers: string; version: string; logFile: string; stop(): Promise<void> }>;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.KAFKA_BROKERS?.trim();
  if (external) {
    project.provide('kafkaBrokers', external);
    project.provide('kafkaVersion', 'external');
    return async () => {};
  }
  const launcherUrl = pathToFileURL(resolve(import.meta.dirname, '../../scripts/kafka-broker.mjs')).href;
  const { startKafka } = (await import(launcherUrl)) as KafkaLauncher;
  const verbose = process.env.KAFKA_LOG === '1';
  const started = Date.now();
  let kafka: Awaited<ReturnType<KafkaLauncher['startKafka']>>;
  try {
    kafka = await startKafka({
      timeoutMs: 120_000,
      log: (line) => {
        // Downloads are slow the first time: always say so; the rest only with KAFKA_LOG=1.
        if (verbose || /download|fetch|maven|mvn/i.test(line)) process.stderr.write(`[kafka] ${line}\n`);
      },
    });
  } catch (error) {
    throw new Error(
      `The test suite needs a Kafka broker and none could be started (set KAFKA_BROKERS=host:port to use a running one): ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  }
  process.env.KAFKA_BROKERS = kafka.brokers;
  project.provide('kafkaBrokers', kafka.brokers);
  project.provide('kafkaVersion', kafka.version);
  if (verbose) {
    process.stderr.write(
      `[kafka] ${kafka.version} on ${kafka.brokers} in ${Date.now() - started} ms (${kafka.logFile})\n`,
    );
  }
  return async () => {
    delete process.env.KAFKA_BROKERS;
    await kafka.stop();
  };
}
