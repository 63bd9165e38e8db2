import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

export type History = proto.temporal.api.history.v1.IHistory;

/**
 * The `backfill-pages` scenario: keys backfilled, and the window (`backfill.concurrency`) they
 * pass through, smaller so that several pages are listed while reports come back.
 */
export const BACKFILL_PAGES = { keys: 40, concurrency: 8 } as const;

/** Where test/replay/record-histories.ts writes the histories of the real engine's runs. */
export const RECORDED_HISTORIES = path.resolve(__dirname, 'histories');

/**
 * The SDK's historyFromJSON. Where npm installed @temporalio/common and @temporalio/proto with
 * two copies of protobufjs, it throws "type must be a Type"; the same conversion is then done
 * with the ProtoJSON module of the copy @temporalio/proto was generated with.
 */
export function historyOf(json: unknown): History {
  try {
    return historyFromJSON(json);
  } catch (err) {
    if (!(err instanceof TypeError) || !/must be a Type/.test(err.message)) throw err;
  }
  const fromProto = createRequire(require.resolve('@temporalio/proto'));
  const protojson = fromProto('protobufjs/ext/protojson') as {
    fromJson(type: unknown, json: unknown, options: { ignoreUnknownFields: boolean }): History;
  };
  const root = patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown };
  return protojson.fromJson(root.lookupType('temporal.api.history.v1.History'), json, {
    ignoreUnknownFields: true,
  });
}

/** One recorded history by its scenario's name (e.g. `one-version`). */
export function loadRecordedHistory(name: string): History {
  return historyOf(
    JSON.parse(fs.readFileSync(path.join(RECORDED_HISTORIES, `${name}.json`), 'utf8')) as unknown,
  );
}
