import type { Throughput } from './report';

export const MiB = 1024 * 1024;

/** The engine and every peer are reported alike: objects and MiB per second over one time span. */
export function throughput(objects: number, bytes: number, seconds: number): Throughput {
  return { seconds, objectsPerSecond: objects / seconds, mibPerSecond: bytes / MiB / seconds };
}
