#!/usr/bin/env node
// Start/stop a REAL single-node Apache Kafka broker (KRaft, broker+controller
// in one JVM) on 127.0.0.1, built from the official jars on Maven Central.
//
// Dependency-free (node: builtins only). Needs `java` (17+ for Kafka 4.x,
// 11+ for 3.x) and, the first time a version is used, `mvn` to fetch the jars
// into <repo>/.cache/kafka/<version>/libs.
//
// Library:
//   import { startKafka } from './scripts/kafka-broker.mjs';
//   const kafka = await startKafka();          // { brokers: '127.0.0.1:PORT', ... }
//   ...
//   await kafka.stop();
//   (also exported: fetchKafkaJars({ version, cacheDir, log }) and DEFAULT_KAFKA_VERSION)
//
// Lifetime: each broker gets a tiny /bin/sh watchdog that SIGTERMs (then
// SIGKILLs) the JVM and deletes its temp data dir if this Node process dies,
// even by SIGKILL; 'exit'/SIGINT/SIGTERM/SIGHUP are handled in-process too.
//
// CLI:
//   node scripts/kafka-broker.mjs run   [--version X] [--port N]
//     prints `KAFKA_BROKERS=127.0.0.1:PORT` on stdout when ready, runs until
//     SIGINT/SIGTERM, then stops the broker. Progress goes to stderr.
//   node scripts/kafka-broker.mjs fetch [--version X]
//     only downloads the jars (cache warm-up).
//
// Environment: KAFKA_VERSION (default version), KAFKA_CACHE_DIR (default cache
// dir), KAFKA_HEAP_OPTS (replaces the default -Xmx512m -Xms256m),
// KAFKA_KEEP_DATA=1 (keep the temp data dir + logs after stop / failed start),
// JAVA_HOME (java to use), MVN (maven command to use).

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/** Latest 3.9.x on Maven Central (checked with mvn). 4.x also works: pass { version: '4.1.2' }. */
export const DEFAULT_KAFKA_VERSION = '3.9.2';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_CACHE_DIR = path.join(REPO_ROOT, '.cache', 'kafka');
const COMPLETE_MARKER = '.complete';
const READY_LINE = 'Kafka Server started'; // logged by KafkaRaftServer on 3.x and 4.x
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';
const FALLBACK_LOG4J2_VERSION = '2.24.3';
const DEFAULT_FETCH_TIMEOUT_MS = 10 * 60_000;
const STOP_GRACE_MS = 10_000;
const LOG_TAIL_LINES = 40;

// ---------------------------------------------------------------- helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const noop = () => {};

function resolveVersion(version) {
  const v = String(version ?? process.env.KAFKA_VERSION ?? DEFAULT_KAFKA_VERSION).trim();
  if (!/^\d+\.\d+\.\d+(?:[.-][0-9A-Za-z.-]+)?$/.test(v)) {
    throw new Error(`Invalid Kafka version ${JSON.stringify(v)} (expected e.g. ${DEFAULT_KAFKA_VERSION})`);
  }
  return v;
}

const majorOf = (version) => Number.parseInt(version, 10);

function resolveCacheDir(cacheDir) {
  return path.resolve(cacheDir ?? process.env.KAFKA_CACHE_DIR ?? DEFAULT_CACHE_DIR);
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

async function tailLines(file, n = LOG_TAIL_LINES) {
  try {
    const fh = await fsp.open(file, 'r');
    try {
      const { size } = await fh.stat();
      const len = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, size - len);
      const lines = buf.toString('utf8').split(/\r?\n/);
      if (lines.at(-1) === '') lines.pop();
      return lines.slice(-n).join('\n');
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}

/** Java .properties value/key escaping (enough for paths and plain values). */
const propEscape = (s) => String(s).replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function toProperties(obj) {
  return `${Object.entries(obj)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${propEscape(v)}`)
    .join('\n')}\n`;
}

// ---------------------------------------------------------------- tools

function javaCommand() {
  const home = process.env.JAVA_HOME;
  if (home) {
    const p = path.join(home, 'bin', process.platform === 'win32' ? 'java.exe' : 'java');
    if (fs.existsSync(p)) return p;
  }
  return 'java';
}

function mvnCommand() {
  return process.env.MVN || (process.platform === 'win32' ? 'mvn.cmd' : 'mvn');
}

const javaChecked = new Map();
function checkJava(kafkaVersion) {
  const java = javaCommand();
  const needed = majorOf(kafkaVersion) >= 4 ? 17 : 11;
  let found = javaChecked.get(java);
  if (found === undefined) {
    const r = spawnSync(java, ['-version'], { encoding: 'utf8', timeout: 30_000 });
    if (r.error) {
      if (r.error.code === 'ENOENT') {
        throw new Error(
          `Cannot start Kafka: \`${java}\` was not found. Install a Java ${needed}+ runtime ` +
            `(e.g. \`apt-get install openjdk-17-jre-headless\`) or set JAVA_HOME.`,
        );
      }
      throw new Error(`Cannot start Kafka: running \`${java} -version\` failed: ${r.error.message}`);
    }
    const m = /version "(\d+)(?:\.(\d+))?/.exec(`${r.stderr}\n${r.stdout}`);
    found = m ? (m[1] === '1' ? Number(m[2]) : Number(m[1])) : 0;
    javaChecked.set(java, found);
  }
  if (found && found < needed) {
    throw new Error(
      `Cannot start Kafka ${kafkaVersion}: it needs Java ${needed}+ but \`${java}\` is Java ${found}. ` +
        `Install e.g. openjdk-17-jre-headless or point JAVA_HOME at a newer JDK.`,
    );
  }
  return java;
}

function checkMvn(libsDir) {
  const mvn = mvnCommand();
  const r = spawnSync(mvn, ['-v'], {
    encoding: 'utf8',
    timeout: 60_000,
    shell: process.platform === 'win32',
  });
  if (r.error?.code === 'ENOENT' || (r.status !== 0 && /not found|not recognized/i.test(`${r.stderr}`))) {
    throw new Error(
      `Cannot download Kafka jars: Apache Maven (\`${mvn}\`) was not found. Install it ` +
        `(e.g. \`apt-get install maven\`) or set MVN; it is needed once per Kafka version to fill ${libsDir}.`,
    );
  }
  if (r.error) throw new Error(`Cannot download Kafka jars: \`${mvn} -v\` failed: ${r.error.message}`);
  return mvn;
}

// ---------------------------------------------------------------- jars

const dep = (g, a, v, extra = '') =>
  `    <dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version>${extra}</dependency>`;

function pomXml(artifactId, deps) {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by scripts/kafka-broker.mjs; only used to resolve jars. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.kafka-broker</groupId>
  <artifactId>${artifactId}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
${deps.join('\n')}
  </dependencies>
</project>
`;
}

function kafkaPom(version) {
  const deps = [dep('org.apache.kafka', 'kafka_2.13', version)];
  if (majorOf(version) < 4) {
    // Kafka 3.x logs through SLF4J 1.7 and also calls the log4j 1 API directly.
    deps.push(dep('org.slf4j', 'slf4j-reload4j', '1.7.36'), dep('ch.qos.reload4j', 'reload4j', '1.2.25'));
  }
  return pomXml(`kafka-${version}`, deps);
}

/**
 * Kafka 4.x uses log4j2 (4.1+ already depends on log4j-core) but ships no SLF4J
 * binding. Pick the binding that matches the resolved slf4j-api major and the
 * log4j-api version Kafka itself pulled in (all log4j2 jars must match).
 */
function loggingPom(version, libFiles) {
  const slf4j = libFiles.map((f) => /^slf4j-api-(\d+)\./.exec(f)).find(Boolean);
  const log4jApi = libFiles.map((f) => /^log4j-api-(2\.[\w.-]+)\.jar$/.exec(f)).find(Boolean);
  const v = log4jApi ? log4jApi[1] : FALLBACK_LOG4J2_VERSION;
  const binding = slf4j && Number(slf4j[1]) >= 2 ? 'log4j-slf4j2-impl' : 'log4j-slf4j-impl';
  const noSlf4j =
    '<exclusions><exclusion><groupId>org.slf4j</groupId><artifactId>*</artifactId></exclusion></exclusions>';
  return pomXml(`kafka-${version}-logging`, [
    dep('org.apache.logging.log4j', binding, v, noSlf4j),
    dep('org.apache.logging.log4j', 'log4j-api', v),
    dep('org.apache.logging.log4j', 'log4j-core', v),
  ]);
}

const isComplete = (libsDir) => fs.existsSync(path.join(libsDir, COMPLETE_MARKER));

async function writeFileAtomic(file, content) {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  await fsp.writeFile(tmp, content);
  await fsp.rename(tmp, file);
}

function runMvn(mvn, args, { cwd, timeoutMs, logFile }) {
  return new Promise((resolve, reject) => {
    const out = fs.openSync(logFile, 'a');
    let child;
    try {
      child = spawn(mvn, args, { cwd, stdio: ['ignore', out, out], shell: process.platform === 'win32' });
    } finally {
      fs.closeSync(out);
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', async (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const why = signal
        ? `was killed (${signal}${signal === 'SIGKILL' ? ', timeout?' : ''})`
        : `exited with code ${code}`;
      reject(
        new Error(`\`${mvn} ${args.join(' ')}\` ${why}. Output (${logFile}):\n${await tailLines(logFile)}`),
      );
    });
  });
}

async function tryLock(lockDir) {
  try {
    await fsp.mkdir(lockDir);
  } catch (e) {
    if (e.code === 'EEXIST') return false;
    throw e;
  }
  await fsp.writeFile(
    path.join(lockDir, 'owner.json'),
    JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() }),
  );
  return true;
}

async function lockIsStale(lockDir, maxAgeMs) {
  let st;
  try {
    st = await fsp.stat(lockDir);
  } catch {
    return false; // gone: not stale, just retry
  }
  const age = Date.now() - st.mtimeMs;
  if (age > maxAgeMs) return true;
  try {
    const owner = JSON.parse(await fsp.readFile(path.join(lockDir, 'owner.json'), 'utf8'));
    return owner.host === os.hostname() && !isAlive(owner.pid);
  } catch {
    return age > 30_000; // owner file never written: creator died right after mkdir
  }
}

/**
 * Download org.apache.kafka:kafka_2.13:<version> + runtime deps + an SLF4J
 * backend into <cacheDir>/<version>/libs (skipped when already complete).
 * Safe against concurrent first-time downloads (lock dir + atomic rename).
 * @returns {Promise<string>} the libs directory
 */
export async function fetchKafkaJars(options = {}) {
  const version = resolveVersion(options.version);
  const cacheDir = resolveCacheDir(options.cacheDir);
  const log = options.log ?? noop;
  const timeoutMs = options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const verDir = path.join(cacheDir, version);
  const libsDir = path.join(verDir, 'libs');
  if (isComplete(libsDir)) return libsDir;

  const mvn = checkMvn(libsDir);
  await fsp.mkdir(verDir, { recursive: true });
  const lockDir = path.join(verDir, '.lock');
  const deadline = Date.now() + timeoutMs;
  let waited = false;
  for (;;) {
    if (isComplete(libsDir)) return libsDir;
    if (await tryLock(lockDir)) break;
    if (await lockIsStale(lockDir, timeoutMs)) {
      log(`removing stale download lock ${lockDir}`);
      await fsp.rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out waiting for another process to download Kafka ${version} jars (lock: ${lockDir}; remove it if no download is running).`,
      );
    }
    if (!waited) log(`another process is downloading Kafka ${version} jars; waiting`);
    waited = true;
    await sleep(500);
  }

  const tmpLibs = path.join(verDir, `libs.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  try {
    if (isComplete(libsDir)) return libsDir;
    const t0 = Date.now();
    log(`downloading Kafka ${version} jars with Maven into ${libsDir}`);
    const mvnLog = path.join(verDir, 'mvn.log');
    await fsp.writeFile(mvnLog, '');
    const copyDeps = (pom) =>
      runMvn(
        mvn,
        [
          '-q',
          '-B',
          '-f',
          pom,
          `${DEPENDENCY_PLUGIN}:copy-dependencies`,
          '-DincludeScope=runtime',
          `-DoutputDirectory=${tmpLibs}`,
        ],
        { cwd: verDir, timeoutMs: Math.max(1000, deadline - Date.now()), logFile: mvnLog },
      );
    const pom = path.join(verDir, 'pom.xml');
    await writeFileAtomic(pom, kafkaPom(version));
    await copyDeps(pom);
    let files = await fsp.readdir(tmpLibs);
    if (!files.includes(`kafka_2.13-${version}.jar`)) {
      throw new Error(`Maven finished but ${tmpLibs} has no kafka_2.13-${version}.jar`);
    }
    if (majorOf(version) >= 4) {
      const pom2 = path.join(verDir, 'pom-logging.xml');
      await writeFileAtomic(pom2, loggingPom(version, files));
      await copyDeps(pom2);
      files = await fsp.readdir(tmpLibs);
    }
    await fsp.writeFile(
      path.join(tmpLibs, COMPLETE_MARKER),
      `${JSON.stringify({ version, jars: files.length, at: new Date().toISOString() })}\n`,
    );
    if (fs.existsSync(libsDir) && !isComplete(libsDir)) {
      await fsp.rm(libsDir, { recursive: true, force: true }); // leftover of an older, non-atomic layout
    }
    try {
      await fsp.rename(tmpLibs, libsDir);
    } catch (e) {
      if (!isComplete(libsDir)) throw e; // someone else won the race: fine
    }
    log(`downloaded ${files.length} jars for Kafka ${version} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return libsDir;
  } finally {
    await fsp.rm(tmpLibs, { recursive: true, force: true }).catch(noop);
    await fsp.rm(lockDir, { recursive: true, force: true }).catch(noop);
  }
}

// ---------------------------------------------------------------- ports

/** Reserve `n` distinct free ports on 127.0.0.1 (bind :0 on all at once, then close). */
async function freePorts(n, exclude = []) {
  const servers = [];
  const ports = [];
  try {
    while (ports.length < n) {
      const srv = net.createServer();
      servers.push(srv);
      await new Promise((resolve, reject) => {
        srv.once('error', reject);
        srv.listen({ port: 0, host: '127.0.0.1', exclusive: true }, resolve);
      });
      const { port } = srv.address();
      if (!exclude.includes(port)) ports.push(port);
    }
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => (s.listening ? s.close(() => r()) : r()))));
  }
  return ports;
}

function canConnect(port, host = '127.0.0.1', timeoutMs = 1000) {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

function isPortFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

// ---------------------------------------------------------------- lifetime

// Brokers (and half-started data dirs) of this process, cleaned up on exit.
const live = new Set();
let hooksInstalled = false;

function installProcessHooks() {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // Synchronous last resort: SIGTERM the brokers; the watchdog of each broker
  // escalates to SIGKILL and removes the data dir once this process is gone.
  process.on('exit', () => {
    for (const entry of live) entry.onParentExit();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    const handler = () => {
      for (const entry of live) entry.onParentExit();
      // Keep default behaviour (terminate) unless the application handles the signal itself.
      if (process.listeners(sig).every((l) => l === handler)) {
        process.removeListener(sig, handler);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, handler);
  }
}

// Polls (1/s) whether the Node parent and the broker are alive. If the parent
// disappears (even via SIGKILL) it stops the broker (TERM, KILL after 10 s)
// and deletes the data dir. Exits by itself when the broker is gone.
const WATCHDOG_SH = `
P=$1; J=$2; D=$3; K=$4
trap '' INT HUP
nap() { sleep 0.5 2>/dev/null || sleep 1; }
while kill -0 "$P" 2>/dev/null && kill -0 "$J" 2>/dev/null; do sleep 1; done
kill -0 "$P" 2>/dev/null && exit 0
if kill -0 "$J" 2>/dev/null; then
  kill -TERM "$J" 2>/dev/null
  i=0
  while kill -0 "$J" 2>/dev/null && [ "$i" -lt ${(STOP_GRACE_MS / 1000) * 2} ]; do nap; i=$((i+1)); done
  if kill -0 "$J" 2>/dev/null; then kill -KILL "$J" 2>/dev/null; sleep 1; fi
fi
[ "$K" = 1 ] || rm -rf "$D"
`;

function spawnWatchdog(brokerPid, dataDir, keep) {
  if (process.platform === 'win32') return null;
  try {
    const wd = spawn(
      '/bin/sh',
      [
        '-c',
        WATCHDOG_SH,
        'kafka-broker-watchdog',
        String(process.pid),
        String(brokerPid),
        dataDir,
        keep ? '1' : '0',
      ],
      {
        detached: true,
        stdio: 'ignore',
      },
    );
    wd.on('error', noop);
    wd.unref();
    return wd;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- broker

function newClusterId() {
  // Kafka Uuid: 16 random bytes, base64url without padding (22 chars); the CLI
  // (and Uuid.randomUuid) avoid ids starting with '-'.
  for (;;) {
    const id = crypto.randomBytes(16).toString('base64url');
    if (!id.startsWith('-') && !/^A{21}[AB]$/.test(id)) return id;
  }
}

function serverProperties({ version, port, controllerPort, dataDir, overrides }) {
  const props = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'log.dirs': path.join(dataDir, 'logs'),
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 1,
    'group.initial.rebalance.delay.ms': 0,
    'num.partitions': 1,
    'auto.create.topics.enable': true,
    // Kafka requires strictly more than 1 MiB per cleaner thread (1048576 is rejected); keeps heap small.
    'log.cleaner.dedupe.buffer.size': 2 * 1024 * 1024,
  };
  if (majorOf(version) >= 4) {
    Object.assign(props, {
      'share.coordinator.state.topic.replication.factor': 1,
      'share.coordinator.state.topic.min.isr': 1,
      'share.coordinator.state.topic.num.partitions': 1,
    });
  }
  return toProperties({ ...props, ...overrides });
}

function log4jConfig(version, logFile) {
  if (majorOf(version) >= 4) {
    // log4j2 properties format (Kafka 4.x uses log4j2).
    return toProperties({
      status: 'warn',
      'appender.file.type': 'File',
      'appender.file.name': 'FILE',
      'appender.file.fileName': logFile,
      'appender.file.append': true,
      'appender.file.layout.type': 'PatternLayout',
      'appender.file.layout.pattern': '[%d] %p %m (%c)%n',
      'rootLogger.level': 'info',
      'rootLogger.appenderRef.file.ref': 'FILE',
      'logger.request.name': 'kafka.request.logger',
      'logger.request.level': 'warn',
    });
  }
  return toProperties({
    'log4j.rootLogger': 'INFO, file',
    'log4j.appender.file': 'org.apache.log4j.FileAppender',
    'log4j.appender.file.File': logFile,
    'log4j.appender.file.Append': true,
    'log4j.appender.file.layout': 'org.apache.log4j.PatternLayout',
    'log4j.appender.file.layout.ConversionPattern': '[%d] %p %m (%c)%n',
    'log4j.logger.kafka.request.logger': 'WARN',
  });
}

function javaLoggingArgs(version, log4jFile, dataDir) {
  const a = [`-Dkafka.logs.dir=${dataDir}`];
  if (majorOf(version) >= 4) a.push(`-Dlog4j2.configurationFile=${log4jFile}`);
  else a.push(`-Dlog4j.configuration=${pathToFileURL(log4jFile).href}`);
  return a;
}

function runJavaTool(java, args, { cwd, outFile, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const out = fs.openSync(outFile, 'a');
    let child;
    try {
      child = spawn(java, args, { cwd, stdio: ['ignore', out, out] });
    } finally {
      fs.closeSync(out);
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(signal ? `killed by ${signal}` : `exit code ${code}`));
    });
  });
}

class StartError extends Error {}

/** First ERROR/FATAL lines and exception lines of a log (the cause is often far above the tail). */
async function errorLines(file, max = 12) {
  let text = '';
  try {
    const fh = await fsp.open(file, 'r');
    try {
      const buf = Buffer.alloc(Math.min((await fh.stat()).size, 8 * 1024 * 1024));
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      text = buf.toString('utf8', 0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch {
    return [];
  }
  const seen = new Set();
  for (const line of text.split(/\r?\n/)) {
    if (
      !/^\[[^\]]+\] (ERROR|FATAL) |^(Caused by: |Exception in thread )|^[\w.$]+(Exception|Error)\b/.test(line)
    )
      continue;
    const l = line.length > 400 ? `${line.slice(0, 400)}...` : line;
    if (seen.has(l)) continue;
    seen.add(l);
    if (seen.size >= max) break;
  }
  return [...seen];
}

async function failureDetails(logFile, outFile) {
  let s = '';
  const errors = [...(await errorLines(logFile)), ...(await errorLines(outFile))];
  if (errors.length) s += `\n--- errors found in the logs ---\n${errors.join('\n')}`;
  for (const f of [logFile, outFile]) {
    const t = await tailLines(f);
    if (t.trim()) s += `\n--- last ${LOG_TAIL_LINES} lines of ${f} ---\n${t}`;
  }
  return s || '\n(no log output)';
}

async function startOnce({ version, java, libsDir, port: wantedPort, timeoutMs, log, keep, overrides }) {
  const t0 = Date.now();
  let port = wantedPort;
  if (port) {
    if (!(await isPortFree(port)))
      throw new Error(`Cannot start Kafka: port 127.0.0.1:${port} is already in use`);
  } else {
    [port] = await freePorts(1);
  }
  const [controllerPort] = await freePorts(1, [port]);

  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), `kafka-${version}-`));
  const logFile = path.join(dataDir, 'server.log'); // log4j output
  const outFile = path.join(dataDir, 'kafka.out'); // JVM stdout/stderr
  const propsFile = path.join(dataDir, 'server.properties');
  const log4jFile = path.join(dataDir, majorOf(version) >= 4 ? 'log4j2.properties' : 'log4j.properties');

  let child = null;
  let watchdog = null;
  const entry = {
    onParentExit() {
      if (child && child.exitCode === null && child.signalCode === null) {
        try {
          child.kill('SIGTERM'); // watchdog finishes the job (SIGKILL, rm -rf data dir)
        } catch {}
      } else if (!keep) {
        try {
          fs.rmSync(dataDir, { recursive: true, force: true });
        } catch {}
      }
    },
  };
  installProcessHooks();
  live.add(entry);

  const cleanup = async () => {
    live.delete(entry);
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await Promise.race([gone, sleep(5000)]);
    }
    try {
      watchdog?.kill('SIGKILL');
    } catch {}
    if (!keep) await fsp.rm(dataDir, { recursive: true, force: true, maxRetries: 3 }).catch(noop);
  };

  try {
    await fsp.writeFile(propsFile, serverProperties({ version, port, controllerPort, dataDir, overrides }));
    await fsp.writeFile(log4jFile, log4jConfig(version, logFile));
    const cp = `${libsDir}${path.sep}*`;
    const logArgs = javaLoggingArgs(version, log4jFile, dataDir);

    // 1. format the storage directory
    const clusterId = newClusterId();
    try {
      await runJavaTool(
        java,
        [
          '-Xmx256m',
          '-XX:+UseSerialGC',
          '-XX:TieredStopAtLevel=1',
          '-Djava.awt.headless=true',
          ...logArgs,
          '-cp',
          cp,
          'kafka.tools.StorageTool',
          'format',
          '-t',
          clusterId,
          '-c',
          propsFile,
        ],
        { cwd: dataDir, outFile, timeoutMs: Math.max(30_000, timeoutMs) },
      );
    } catch (e) {
      throw new StartError(`formatting the storage (kafka.tools.StorageTool format) failed: ${e.message}`);
    }
    const tFormat = Date.now();

    // 2. start the broker
    const heap = process.env.KAFKA_HEAP_OPTS
      ? process.env.KAFKA_HEAP_OPTS.trim().split(/\s+/)
      : ['-Xmx512m', '-Xms256m'];
    const jvmArgs = [
      ...heap,
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-XX:InitiatingHeapOccupancyPercent=35',
      '-XX:+ExplicitGCInvokesConcurrent',
      '-Djava.awt.headless=true',
      ...logArgs,
      '-cp',
      cp,
      'kafka.Kafka',
      propsFile,
    ];
    const out = fs.openSync(outFile, 'a');
    try {
      child = spawn(java, jvmArgs, { cwd: dataDir, stdio: ['ignore', out, out] });
    } finally {
      fs.closeSync(out);
    }
    const spawnError = new Promise((resolve) => child.once('error', resolve));
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    if (child.pid) watchdog = spawnWatchdog(child.pid, dataDir, keep);
    log(
      `Kafka ${version} starting (pid ${child.pid}, port ${port}, controller ${controllerPort}, data ${dataDir})`,
    );

    // 3. wait until the log says it started and the port accepts connections
    await new Promise((resolve, reject) => {
      let settled = false;
      let offset = 0;
      let carry = '';
      let sawLine = false;
      let pollTimer;
      const finish = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(pollTimer);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => finish(new StartError(`not ready after ${timeoutMs} ms`)), timeoutMs);
      exited.then(({ code, signal }) =>
        finish(
          new StartError(
            `the java process exited (${signal ? `signal ${signal}` : `code ${code}`}) before the broker was ready`,
          ),
        ),
      );
      spawnError.then((e) => finish(new StartError(`could not run ${java}: ${e.message}`)));
      const poll = async () => {
        if (settled) return;
        try {
          if (!sawLine) {
            const fh = await fsp.open(logFile, 'r').catch(() => null);
            if (fh) {
              try {
                const { size } = await fh.stat();
                if (size > offset) {
                  const buf = Buffer.alloc(size - offset);
                  const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
                  offset += bytesRead;
                  const text = carry + buf.toString('utf8', 0, bytesRead);
                  sawLine = text.includes(READY_LINE);
                  carry = text.slice(-READY_LINE.length);
                }
              } finally {
                await fh.close();
              }
            }
          }
          if (sawLine && (await canConnect(port))) return finish();
        } catch (e) {
          return finish(e);
        }
        if (!settled) pollTimer = setTimeout(poll, 150);
      };
      poll();
    });

    const tReady = Date.now();
    log(
      `Kafka ${version} ready on 127.0.0.1:${port} in ${((tReady - t0) / 1000).toFixed(1)} s ` +
        `(format ${((tFormat - t0) / 1000).toFixed(1)} s, broker start ${((tReady - tFormat) / 1000).toFixed(1)} s)`,
    );

    let stopping = null;
    exited.then(({ code, signal }) => {
      if (!stopping)
        log(
          `Kafka ${version} (pid ${child.pid}) exited unexpectedly (${signal ?? `code ${code}`}); see ${logFile}`,
        );
    });

    const stop = () =>
      (stopping ??= (async () => {
        live.delete(entry);
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const ok = await Promise.race([exited.then(() => true), sleep(STOP_GRACE_MS).then(() => false)]);
          if (!ok) {
            log(`Kafka ${version} did not stop within ${STOP_GRACE_MS / 1000} s; sending SIGKILL`);
            child.kill('SIGKILL');
            await Promise.race([exited, sleep(5000)]);
          }
        }
        try {
          watchdog?.kill('SIGKILL');
        } catch {}
        if (!keep) await fsp.rm(dataDir, { recursive: true, force: true, maxRetries: 3 }).catch(noop);
        log(`Kafka ${version} stopped`);
      })());

    return {
      brokers: `127.0.0.1:${port}`,
      port,
      version,
      logFile,
      dataDir,
      pid: child.pid,
      exited,
      stop,
    };
  } catch (e) {
    const details = await failureDetails(logFile, outFile);
    await cleanup();
    const reason = e instanceof StartError ? e.message : e.stack || String(e);
    const err = new Error(
      `Kafka ${version} failed to start on 127.0.0.1:${port}: ${reason}${details}` +
        (keep ? `\n(data dir kept: ${dataDir})` : '\n(data dir removed; set KAFKA_KEEP_DATA=1 to keep it)'),
    );
    err.portConflict = /Address already in use|BindException/.test(details);
    throw err;
  }
}

/**
 * Start a single-node KRaft Kafka broker on 127.0.0.1.
 * @param {{ version?: string, port?: number, cacheDir?: string, timeoutMs?: number,
 *           log?: (line: string) => void, fetchTimeoutMs?: number, keepDataDir?: boolean,
 *           serverProperties?: Record<string, string | number | boolean> }} [options]
 * @returns {Promise<{ brokers: string, port: number, version: string, logFile: string, dataDir: string,
 *                     pid: number, exited: Promise<{ code: number | null, signal: string | null }>,
 *                     stop: () => Promise<void> }>}
 */
export async function startKafka(options = {}) {
  const version = resolveVersion(options.version);
  const cacheDir = resolveCacheDir(options.cacheDir);
  const timeoutMs = options.timeoutMs ?? 120_000;
  const log = options.log ?? noop;
  const keep = options.keepDataDir ?? process.env.KAFKA_KEEP_DATA === '1';
  const port = options.port == null ? undefined : Number(options.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw new Error(`Invalid port ${options.port}`);
  }
  const java = checkJava(version);
  const libsDir = await fetchKafkaJars({ version, cacheDir, log, fetchTimeoutMs: options.fetchTimeoutMs });
  const attempts = port ? 1 : 3; // a picked free port can be grabbed by someone else before Kafka binds it
  for (let i = 1; ; i++) {
    try {
      return await startOnce({
        version,
        java,
        libsDir,
        port,
        timeoutMs,
        log,
        keep,
        overrides: options.serverProperties,
      });
    } catch (e) {
      if (!e.portConflict || i >= attempts) throw e;
      log(`port conflict while starting Kafka; retrying with new ports (${i}/${attempts - 1})`);
    }
  }
}

// ---------------------------------------------------------------- CLI

async function main(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      version: { type: 'string' },
      port: { type: 'string' },
      'cache-dir': { type: 'string' },
      'timeout-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const cmd = positionals[0];
  const log = (line) => process.stderr.write(`[kafka-broker] ${line}\n`);
  const usage =
    'usage: node scripts/kafka-broker.mjs run   [--version X] [--port N] [--cache-dir D] [--timeout-ms MS]\n' +
    '       node scripts/kafka-broker.mjs fetch [--version X] [--cache-dir D]\n';
  if (values.help || !cmd) {
    process.stderr.write(usage);
    return values.help ? 0 : 2;
  }
  const common = { version: values.version, cacheDir: values['cache-dir'], log };

  if (cmd === 'fetch') {
    const libs = await fetchKafkaJars(common);
    log(`jars ready in ${libs}`);
    return 0;
  }
  if (cmd !== 'run') {
    process.stderr.write(`unknown command ${JSON.stringify(cmd)}\n${usage}`);
    return 2;
  }

  let broker = null;
  let shuttingDown = false;
  const shutdown = async (sig) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log(`${sig} received; stopping`);
    if (broker) await broker.stop();
    // still starting: exiting fires the 'exit' hook, which stops the JVM via the watchdog
    process.exit(broker ? 0 : 130);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => void shutdown(sig));

  broker = await startKafka({
    ...common,
    port: values.port ? Number(values.port) : undefined,
    timeoutMs: values['timeout-ms'] ? Number(values['timeout-ms']) : undefined,
  });
  if (shuttingDown) {
    await broker.stop();
    return 130;
  }
  process.stdout.write(`KAFKA_BROKERS=${broker.brokers}\n`);
  log(`log file: ${broker.logFile}`);
  const { code, signal } = await broker.exited;
  if (shuttingDown) return new Promise(noop); // shutdown() exits the process
  log(`broker exited unexpectedly (${signal ?? `code ${code}`})`);
  await broker.stop();
  return 1;
}

const invokedDirectly = (() => {
  try {
    return process.argv[1] && pathToFileURL(fs.realpathSync(process.argv[1])).href === import.meta.url;
  } catch {
    return false;
  }
})();

if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`[kafka-broker] ${e?.message ?? e}\n`);
      process.exit(1);
    },
  );
}
