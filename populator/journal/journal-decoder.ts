import type { DecodeResult, JournalFormat } from '../../shared/journal-entry';

/** One journal format: recognises its documents and turns them into journal entries. */
export interface JournalDecoder {
  format: JournalFormat;
  matches(doc: unknown): boolean;
  decode(doc: unknown): DecodeResult;
}
