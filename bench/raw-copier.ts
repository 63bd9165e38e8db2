/**
 * L's copier in a process of its own, as the engine's worker is: reads one JSON job per line on
 * stdin ({ key, versionId, size }), copies it with a streaming GET → PUT (same SDK, bounded
 * concurrency) and answers one JSON line per job on stdout ({ key, at } or { key, error }).
 * usage: node --import tsx bench/raw-copier.ts '<json: source, target, buckets, concurrency>'
 */
import readline from 'node:readline';
import pLimit from 'p-limit';
import { createS3Client, type S3SiteConnection } from '../clients/s3';
import { copyObjectStreaming } from './baselines';

interface CopierArgs {
  source: S3SiteConnection;
  target: S3SiteConnection;
  sourceBucket: string;
  targetBucket: string;
  concurrency: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as CopierArgs;
const source = createS3Client(args.source, 128);
const target = createS3Client(args.target, 128);
const limit = pLimit(args.concurrency);
const answer = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const job = JSON.parse(line) as { key: string; versionId?: string; size?: number };
  void limit(async () => {
    try {
      await copyObjectStreaming(source, target, args.sourceBucket, args.targetBucket, job);
      answer({ key: job.key, at: Date.now() });
    } catch (err) {
      answer({ key: job.key, error: (err as Error).message });
    }
  });
});
