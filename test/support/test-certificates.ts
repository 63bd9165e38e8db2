/**
 * Certificates made by a test with the real tools a user has: `openssl` (Debian's) for a CA,
 * server and client certificates (ECDSA P-256, PKCS#8 keys), and the JDK's `keytool` for the
 * Java trust store a Kafka broker reads. Nothing is committed: each test makes its own in a
 * temporary folder.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

function run(command: string, args: string[], cwd: string): void {
  try {
    execFileSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string; code?: string };
    if (e.code === 'ENOENT') {
      throw new Error(
        `${command} is not installed: the security tests make their certificates with it (apt-get install ${command === 'keytool' ? 'openjdk-17-jdk-headless' : 'openssl'})`,
        { cause: err },
      );
    }
    throw new Error(`${command} ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`, {
      cause: err,
    });
  }
}

export interface CertificateAuthority {
  name: string;
  certFile: string;
  keyFile: string;
}

export interface IssuedCertificate {
  certFile: string;
  keyFile: string;
}

/** A self-signed CA, valid for a day. */
export function makeCa(dir: string, name: string): CertificateAuthority {
  fs.mkdirSync(dir, { recursive: true });
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  run(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    dir,
  );
  return { name, certFile, keyFile };
}

/**
 * A certificate signed by `ca`: for a server (names 127.0.0.1 and localhost unless told
 * otherwise) or a client (extendedKeyUsage clientAuth).
 */
export function issueCertificate(
  ca: CertificateAuthority,
  dir: string,
  name: string,
  usage: 'server' | 'client',
  names: string[] = ['IP:127.0.0.1', 'DNS:localhost'],
): IssuedCertificate {
  fs.mkdirSync(dir, { recursive: true });
  const keyFile = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const certFile = path.join(dir, `${name}.crt`);
  const ext = path.join(dir, `${name}.ext`);
  run(
    'openssl',
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      keyFile,
      '-out',
      csr,
    ],
    dir,
  );
  fs.writeFileSync(
    ext,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
      ...(usage === 'server' ? [`subjectAltName=${names.join(',')}`] : []),
      '',
    ].join('\n'),
  );
  run(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.certFile,
      '-CAkey',
      ca.keyFile,
      '-CAcreateserial',
      '-days',
      '1',
      '-sha256',
      '-extfile',
      ext,
      '-out',
      certFile,
    ],
    dir,
  );
  fs.chmodSync(keyFile, 0o600);
  return { certFile, keyFile };
}

/** A PKCS12 key store holding a certificate, its key and its CA (openssl), for a Java server. */
export function pkcs12KeyStore(
  issued: IssuedCertificate,
  ca: CertificateAuthority,
  file: string,
  password: string,
): string {
  run(
    'openssl',
    [
      'pkcs12',
      '-export',
      '-in',
      issued.certFile,
      '-inkey',
      issued.keyFile,
      '-certfile',
      ca.certFile,
      '-name',
      'server',
      '-passout',
      `pass:${password}`,
      '-out',
      file,
    ],
    path.dirname(file),
  );
  return file;
}

/** A Java trust store (PKCS12) trusting `ca`, made with the JDK's keytool. */
export function javaTrustStore(ca: CertificateAuthority, file: string, password: string): string {
  fs.rmSync(file, { force: true });
  run(
    'keytool',
    [
      '-importcert',
      '-noprompt',
      '-alias',
      ca.name,
      '-file',
      ca.certFile,
      '-keystore',
      file,
      '-storetype',
      'PKCS12',
      '-storepass',
      password,
    ],
    path.dirname(file),
  );
  return file;
}

/** The lines of a PEM private key's body: what a leak of the key would show. */
export function privateKeyBody(keyFile: string): string {
  return fs
    .readFileSync(keyFile, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0 && !line.startsWith('-----'))
    .join('');
}

/** Writes a file the way a rotation should: a new file renamed over the old one. */
export function replaceFile(file: string, content: string | Buffer): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, content, { mode: 0o600 });
  fs.renameSync(tmp, file);
}
