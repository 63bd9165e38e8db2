import { decodeJournalMessage } from '../../populator/journal/decode-journal-message';
import { MAX_KEY_BYTES, MAX_OBJECT_SIZE } from '../../populator/journal/limits';
import type { JournalEntry } from '../../shared/journal-entry';
import { fuzzJournalMessages } from '../support/journal-fuzz';

// Reproduce a failure with CRR_FUZZ_SEED=<seed printed below>.
const SEED = Number(process.env.CRR_FUZZ_SEED ?? 20261124);
const COUNT = 10_000;

function entryProblems(entry: JournalEntry): string[] {
  const problems: string[] = [];
  if (
    entry.size !== undefined &&
    (!Number.isInteger(entry.size) || entry.size < 0 || entry.size > MAX_OBJECT_SIZE)
  )
    problems.push(`size ${entry.size}`);
  if (entry.key.length === 0 || Buffer.byteLength(entry.key) > MAX_KEY_BYTES) problems.push('key length');
  if (typeof entry.versionId !== 'string' || entry.versionId.length === 0) problems.push('versionId');
  if (!/^\d+$/.test(entry.sequence)) problems.push(`sequence ${entry.sequence}`);
  if (Number.isNaN(Date.parse(entry.eventTime))) problems.push(`eventTime ${entry.eventTime}`);
  if (!['put', 'metadata', 'delete-marker', 'delete-version'].includes(entry.operation))
    problems.push(`operation ${entry.operation}`);
  if (typeof entry.bucket !== 'string' || entry.bucket.length === 0 || entry.bucket.includes('/'))
    problems.push('bucket');
  return problems;
}

describe(`10,000 fuzzed journal messages (seed ${SEED})`, () => {
  const messages = fuzzJournalMessages(COUNT, { seed: SEED });

  test('the generator is reproducible from its seed and mixes defects and mutations', () => {
    const again = fuzzJournalMessages(50, { seed: SEED });
    expect(again.map((m) => m.value?.toString('base64'))).toEqual(
      messages.slice(0, 50).map((m) => m.value?.toString('base64')),
    );
    const refused = messages.filter((m) => m.expect === 'refused').length;
    expect(refused).toBeGreaterThan(COUNT * 0.4);
    expect(refused).toBeLessThan(COUNT * 0.6);
    expect(
      new Set(messages.filter((m) => m.expect === 'refused').map((m) => m.mutation)).size,
    ).toBeGreaterThan(20);
  });

  test('the decoder never throws: every message is decoded into valid entries or refused with a reason', () => {
    const failures: string[] = [];
    let decoded = 0;
    let refused = 0;
    for (const [i, m] of messages.entries()) {
      let result: ReturnType<typeof decodeJournalMessage>;
      try {
        result = decodeJournalMessage({
          key: Buffer.from(m.key),
          value: m.value,
          topic: 'crr-journal',
          partition: 0,
          offset: String(i),
        });
      } catch (err) {
        failures.push(`#${i} (${m.mutation}) threw: ${(err as Error).message}`);
        continue;
      }
      if (result.ok) {
        decoded++;
        if (!Array.isArray(result.entries)) failures.push(`#${i} (${m.mutation}): entries is not an array`);
        for (const entry of result.entries) {
          const problems = entryProblems(entry);
          if (problems.length > 0)
            failures.push(`#${i} (${m.mutation}) decoded an invalid entry: ${problems.join(', ')}`);
        }
        if (m.expect === 'refused') failures.push(`#${i} (${m.mutation}) should have been refused`);
      } else {
        refused++;
        if (typeof result.reason !== 'string' || result.reason.length === 0)
          failures.push(`#${i} (${m.mutation}) refused without a reason`);
      }
    }
    expect(failures.slice(0, 20)).toEqual([]);
    expect(decoded + refused).toBe(COUNT);
    // The mutations keep a share of the messages decodable: the decoder is not just refusing everything.
    expect(decoded).toBeGreaterThan(COUNT * 0.05);
  });
});
