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
  TEMPORAL_SERVER_MODULE,
  TEMPORAL_SERVER_VERSION,
  TEMPORAL_UI_SERVER_MODULE,
  TEMPORAL_UI_SERVER_VERSION,
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
function goInstall(
  module: string,
  version: string,
  binary: string,
  log: Log,
  extra: {
    /** Name of the cache entry (default: the binary's). */
    cacheName?: string;
    /** Adds files to the cache entry before it is renamed into place. */
    afterBuild?: (tmp: string) => void;
    /** How to do without Go (default: a prebuilt binary on PATH). */
    withoutGo?: string;
  } = {},
): string {
  const dir = path.join(cacheDir(), 'bin', `${extra.cacheName ?? binary}-${version}`);
  const target = path.join(dir, binary);
  if (fs.existsSync(target)) return target;
  requireTool(
    'go',
    `install Go (https://go.dev/doc/install) ${extra.withoutGo ?? 'or put a prebuilt binary on PATH'}`,
  );
  log(`building ${module}@${version} from the Go module proxy (first run only, a few minutes)...`);
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.mkdirSync(tmp, { recursive: true });
  try {
    execFileSync('go', ['install', `${module}@${version}`], {
      env: { ...process.env, GOBIN: tmp, CGO_ENABLED: process.env.CGO_ENABLED ?? '0' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    extra.afterBuild?.(tmp);
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

/** The Temporal server, its SQL schema tool and the PostgreSQL schemas of the same tag. */
export interface TemporalServerBuild {
  server: string;
  sqlTool: string;
  /** Holds `temporal/versioned` and `visibility/versioned` (schema/postgresql/v12 of the module). */
  postgresSchemaDir: string;
}

/**
 * CRR_TEMPORAL=server: `go install` of the server and of the sql tool at the pinned tag, with
 * the module's PostgreSQL schemas copied next to the tool (so the cache entry does not depend
 * on the Go module cache staying around).
 */
export function temporalServerBuild(log: Log): TemporalServerBuild {
  const withoutGo = 'or leave CRR_TEMPORAL unset to use the Temporal CLI dev server';
  const server = goInstall(`${TEMPORAL_SERVER_MODULE}/cmd/server`, TEMPORAL_SERVER_VERSION, 'server', log, {
    cacheName: 'temporal-server',
    withoutGo,
  });
  const sqlTool = goInstall(`${TEMPORAL_SERVER_MODULE}/cmd/tools/sql`, TEMPORAL_SERVER_VERSION, 'sql', log, {
    cacheName: 'temporal-sql-tool',
    withoutGo,
    afterBuild: (tmp) => {
      const downloaded = execFileSync(
        'go',
        ['mod', 'download', '-json', `${TEMPORAL_SERVER_MODULE}@${TEMPORAL_SERVER_VERSION}`],
        { encoding: 'utf8', cwd: tmp },
      );
      const moduleDir = (JSON.parse(downloaded) as { Dir?: string }).Dir;
      const schemas = moduleDir && path.join(moduleDir, 'schema', 'postgresql', 'v12');
      if (!schemas || !fs.existsSync(schemas)) {
        throw new Error(`no schema/postgresql/v12 in ${TEMPORAL_SERVER_MODULE}@${TEMPORAL_SERVER_VERSION}`);
      }
      fs.cpSync(schemas, path.join(tmp, 'schema', 'postgresql', 'v12'), { recursive: true });
      // The module cache is read-only: make the copy writable so the cache entry can be removed.
      execFileSync('chmod', ['-R', 'u+w', path.join(tmp, 'schema')]);
    },
  });
  return {
    server,
    sqlTool,
    postgresSchemaDir: path.join(path.dirname(sqlTool), 'schema', 'postgresql', 'v12'),
  };
}

/** The Temporal Web UI server (the one the pinned CLI embeds), for CRR_TEMPORAL=server. */
export function temporalUiServerBinary(log: Log): string {
  return goInstall(`${TEMPORAL_UI_SERVER_MODULE}/cmd/server`, TEMPORAL_UI_SERVER_VERSION, 'server', log, {
    cacheName: 'temporal-ui-server',
    withoutGo: 'or leave CRR_TEMPORAL unset to use the Temporal CLI dev server',
  });
}

/**
 * The folder with Debian's PostgreSQL server programs (initdb, postgres, pg_isready):
 * CRR_POSTGRES_BIN_DIR, else the newest /usr/lib/postgresql/<version>/bin. When there is none
 * and we run as root, `apt-get install postgresql` (as .ci/run does for chromium); otherwise
 * an error that says how to install it.
 */
export function postgresBinDir(log: Log): string {
  const explicit = process.env.CRR_POSTGRES_BIN_DIR;
  if (explicit) {
    if (!fs.existsSync(path.join(explicit, 'postgres'))) {
      throw new Error(`CRR_POSTGRES_BIN_DIR=${explicit} has no postgres program`);
    }
    return explicit;
  }
  const found = debianPostgres();
  if (found) return found;
  const how =
    'install PostgreSQL (Debian: apt-get install postgresql) or set CRR_POSTGRES_BIN_DIR to the folder holding initdb, postgres and pg_isready';
  if (process.getuid?.() !== 0) {
    throw new Error(`CRR_TEMPORAL=server needs PostgreSQL, which is not installed: ${how}`);
  }
  log('installing PostgreSQL for CRR_TEMPORAL=server (apt-get install postgresql)...');
  const install = spawnSync(
    'bash',
    [
      '-c',
      'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const installed = debianPostgres();
  if (install.status !== 0 || !installed) {
    throw new Error(`CRR_TEMPORAL=server needs PostgreSQL and apt-get could not install it: ${how}`);
  }
  return installed;
}

function debianPostgres(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const versions = fs
    .readdirSync(root)
    .filter((v) => /^\d+$/.test(v) && fs.existsSync(path.join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] && path.join(root, versions[0], 'bin');
}
