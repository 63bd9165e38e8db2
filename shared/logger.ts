import pino, { type Logger } from 'pino';

/** JSON logs on stdout; replication logs carry bucket, key, versionId and site fields. */
export function createLogger(component: string): Logger {
  return pino({
    name: `crr-${component}`,
    level: process.env.CRR_LOG_LEVEL ?? 'info',
    redact: {
      paths: ['*.secretAccessKey', '*.accessKeyId', '*.sessionToken', 'credentials'],
      censor: '[redacted]',
    },
  });
}
