import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir, repoRoot } from './paths';
import {
  KAFKA_VERSION,
  MINIO_MODULE,
  MINIO_VERSION,
  TEMPORAL_CLI_MODULE,
  TEMPORAL_CLI_VERSION,
} from './versions';

type Log = (line: string) => void;

function onPath(name: string): string | undefined {
  const found = spawnSync('bash', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const resolved = found.stdout.trim();
  return found.status === 0 && resolved ? resolved : undefined;
}

function requireTool(tool: string, how: string): void {
  if (!onPath(tool)) {
    throw new Error(`${tool} is required to build the local stack but is not on PATH: ${how}`);
  }
}

/**
 * Builds a Go command with `go install module@version` into the cache. The build goes to a
 * temporary folder renamed into place, so an interrupted or concurrent build never leaves
 * a half-written binary behind.
 */
function goInstall(module: string, version: string, binary: string, log: Log): string {
  const dir = path.join(cacheDir(), 'bin', `${binary}-${version}`);
  const target = path.join(dir, binary);
  if (fs.existsSync(target)) return target;
  requireTool('go', 'install Go (https://go.dev/doc/install) or put a prebuilt binary on PATH');
  log(`building ${module}@${version} from the Go module proxy (first run only, a few minutes)...`);
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.mkdirSync(tmp, { recursive: true });
  try {
    execFileSync('go', ['install', `${module}@${version}`], {
      env: { ...process.env, GOBIN: tmp, CGO_ENABLED: process.env.CGO_ENABLED ?? '0' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    try {
      fs.renameSync(tmp, dir);
    } catch (err) {
      // Another process finished the same build first: keep theirs.
      if (!fs.existsSync(target)) throw err;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return target;
}

/** CRR_TEMPORAL_BIN, then `temporal` on PATH, then the pinned build from the Go module proxy. */
export function temporalBinary(log: Log): string {
  return (
    process.env.CRR_TEMPORAL_BIN ??
    onPath('temporal') ??
    goInstall(TEMPORAL_CLI_MODULE, TEMPORAL_CLI_VERSION, 'temporal', log)
  );
}

/** CRR_MINIO_BIN, then `minio` on PATH, then the pinned build from the Go module proxy. */
export function minioBinary(log: Log): string {
  return process.env.CRR_MINIO_BIN ?? onPath('minio') ?? goInstall(MINIO_MODULE, MINIO_VERSION, 'minio', log);
}

/**
 * The Kafka broker's runtime classpath, resolved from Maven Central with the repository's
 * pom and copied into the cache. Returns the folder holding the jars.
 */
export function kafkaLibs(log: Log): string {
  const dir = path.join(cacheDir(), `kafka-${KAFKA_VERSION}`);
  const libs = path.join(dir, 'libs');
  const done = path.join(dir, '.complete');
  if (fs.existsSync(done)) return libs;
  requireTool('java', 'install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)');
  requireTool('mvn', 'install Maven (Debian: apt-get install maven)');
  log(`resolving Apache Kafka ${KAFKA_VERSION} from Maven Central (first run only)...`);
  fs.rmSync(libs, { recursive: true, force: true });
  execFileSync(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      path.join(repoRoot, 'stack', 'kafka', 'pom.xml'),
      'dependency:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${libs}`,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  fs.writeFileSync(done, new Date().toISOString());
  return libs;
}
