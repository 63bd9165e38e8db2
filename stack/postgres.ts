import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { postgresBinDir } from './binaries';
import { ManagedProcess, waitUntilReady } from './managed-process';
import { freePort } from './ports';

const execFileAsync = promisify(execFile);

/** The database role Temporal connects as (loopback only, `trust` authentication). */
export const POSTGRES_ROLE = 'temporal';

export interface PostgresCluster {
  port: number;
  /** Folder of the cluster's unix socket (inside the state folder). */
  socketDir: string;
  process: ManagedProcess;
}

export interface StartPostgresOptions {
  dataDir: string;
  logDir: string;
  log: (line: string) => void;
}

/**
 * How to run a PostgreSQL program: PostgreSQL refuses to run as root, so as root every
 * program runs as an unprivileged user (CRR_POSTGRES_OS_USER, default `postgres`, which
 * Debian's package creates) through `setpriv`, which execs in place (no extra process).
 */
function runner(env: NodeJS.ProcessEnv): { user?: { name: string; uid: number; gid: number } } {
  if (process.getuid?.() !== 0) return {};
  const name = env.CRR_POSTGRES_OS_USER ?? 'postgres';
  const id = (flag: string) => spawnSync('id', [flag, name], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(
      `CRR_TEMPORAL=server runs PostgreSQL as the unprivileged user "${name}" (PostgreSQL refuses to run as root), ` +
        `which does not exist: create it (useradd --system ${name}) or set CRR_POSTGRES_OS_USER to another user`,
    );
  }
  return { user: { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) } };
}

function asUser(
  user: { name: string } | undefined,
  command: string,
  args: string[],
): { command: string; args: string[] } {
  if (!user) return { command, args };
  return {
    command: 'setpriv',
    args: ['--reuid', user.name, '--regid', user.name, '--init-groups', '--', command, ...args],
  };
}

/**
 * Starts a private PostgreSQL cluster in `<dataDir>/postgres` (created with initdb on the first
 * start, reused afterwards) on a free loopback port, its unix socket in the same folder.
 */
export async function startPostgres(options: StartPostgresOptions): Promise<PostgresCluster> {
  const bin = postgresBinDir(options.log);
  const { user } = runner(process.env);
  const root = path.join(options.dataDir, 'postgres');
  const cluster = path.join(root, 'cluster');
  const socketDir = path.join(root, 'run');
  fs.mkdirSync(socketDir, { recursive: true });
  if (user) {
    // The unprivileged user must reach its folder: traverse (not read) the state folders.
    for (const dir of [path.dirname(options.dataDir), options.dataDir]) {
      fs.chmodSync(dir, fs.statSync(dir).mode | 0o011);
    }
    for (const dir of [root, socketDir]) fs.chownSync(dir, user.uid, user.gid);
    fs.chmodSync(root, 0o700);
    const reach = spawnSync('setpriv', [
      '--reuid',
      user.name,
      '--regid',
      user.name,
      '--init-groups',
      'test',
      '-w',
      root,
    ]);
    if (reach.status !== 0) {
      throw new Error(
        `PostgreSQL runs as "${user.name}", which cannot write ${root}: make its parent folders traversable ` +
          `(chmod o+x) or choose another state folder (CRR_STATE_DIR)`,
      );
    }
  }
  if (!fs.existsSync(path.join(cluster, 'PG_VERSION'))) {
    fs.rmSync(cluster, { recursive: true, force: true });
    options.log(`creating a PostgreSQL cluster in ${cluster}...`);
    const initdb = asUser(user, path.join(bin, 'initdb'), [
      '-D',
      cluster,
      '-U',
      POSTGRES_ROLE,
      // Loopback only (listen_addresses below) and a private socket folder.
      '--auth=trust',
      '--encoding=UTF8',
      '--locale=C',
    ]);
    await execFileAsync(initdb.command, initdb.args, { maxBuffer: 16 << 20 }).catch(
      (err: Error & { stderr?: string }) => {
        throw new Error(`initdb failed: ${err.stderr ?? err.message}`, { cause: err });
      },
    );
  }
  const port = await freePort();
  const server = asUser(user, path.join(bin, 'postgres'), [
    '-D',
    cluster,
    '-p',
    String(port),
    '-k',
    socketDir,
    '-c',
    'listen_addresses=127.0.0.1',
    // Four Temporal services, each with its own pools to both databases.
    '-c',
    'max_connections=200',
  ]);
  const proc = new ManagedProcess({
    name: 'postgres',
    command: server.command,
    args: server.args,
    logFile: path.join(options.logDir, 'postgres.log'),
  });
  await waitUntilReady(
    proc,
    `PostgreSQL at 127.0.0.1:${port}`,
    async () => {
      await execFileAsync(path.join(bin, 'pg_isready'), [
        '-q',
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        POSTGRES_ROLE,
        '-d',
        'postgres',
      ]);
      return true;
    },
    60_000,
  ).catch(async (err: unknown) => {
    await proc.stop();
    throw err;
  });
  return { port, socketDir, process: proc };
}
