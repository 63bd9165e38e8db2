import { Kafka, logLevel, type Consumer } from 'kafkajs';

export interface Completion {
  at: number;
  eventTime: number;
  status: string;
}

/**
 * Follows the replication-status topic (every COMPLETED/FAILED the engine publishes) and the
 * journal topic (when MinIO's event reached Kafka), keyed by bucket and version.
 */
export class CompletionTracker {
  readonly completions = new Map<string, Completion>();
  readonly journalAppends = new Map<string, number>();
  private consumers: Consumer[] = [];

  constructor(
    private readonly brokers: string[],
    private readonly topics: { status: string; journal: string },
  ) {}

  async start(): Promise<void> {
    const kafka = new Kafka({ clientId: 'crr-bench', brokers: this.brokers, logLevel: logLevel.NOTHING });
    const status = kafka.consumer({ groupId: `bench-status-${Date.now()}`, maxWaitTimeInMs: 100 });
    const journal = kafka.consumer({ groupId: `bench-journal-${Date.now()}`, maxWaitTimeInMs: 100 });
    this.consumers = [status, journal];
    await Promise.all(this.consumers.map((c) => c.connect()));
    await status.subscribe({ topic: this.topics.status, fromBeginning: false });
    await journal.subscribe({ topic: this.topics.journal, fromBeginning: false });
    await status.run({
      eachMessage: async ({ message }) => {
        const e = JSON.parse(message.value!.toString()) as Record<string, string>;
        if (e.status !== 'COMPLETED' && e.status !== 'FAILED') return;
        this.completions.set(`${e.bucket}|${e.versionId}`, {
          at: Date.parse(e.at!),
          eventTime: Date.parse(e.eventTime ?? e.at!),
          status: e.status,
        });
      },
    });
    await journal.run({
      eachMessage: async ({ message }) => {
        const text = message.value?.toString() ?? '';
        const bucket = /"bucket":\{"name":"([^"]+)"/.exec(text)?.[1];
        const version = /"versionId":"([^"]+)"/.exec(text)?.[1];
        if (bucket && version) this.journalAppends.set(`${bucket}|${version}`, Number(message.timestamp));
      },
    });
    // Give the group assignment a moment so no early event is missed.
    await new Promise((r) => setTimeout(r, 3000));
  }

  async waitFor(bucket: string, versionIds: string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const missing = versionIds.filter((v) => !this.completions.has(`${bucket}|${v}`)).length;
      if (missing === 0) return;
      if (Date.now() > deadline)
        throw new Error(`${missing} of ${versionIds.length} versions of ${bucket} not completed in time`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.consumers.map((c) => c.disconnect()));
  }
}
