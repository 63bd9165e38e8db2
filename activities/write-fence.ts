/**
 * Conditional writes as a fence against writes delivered late. An attempt's PUT can reach
 * the target long after the attempt was given up: a frozen server reads it from its socket
 * buffer when it resumes, and a client's abort does not recall bytes already sent. Each
 * replica write therefore carries what the engine saw as the target's latest when it
 * planned the write (If-Match its ETag, or If-None-Match: * when the key has no current
 * version), so that of two writes planned from the same state only the first lands; the
 * other gets 412 and its attempt plans again from the target's history.
 */
import { errorCode, statusCode } from '../clients/s3-errors';
import { bareEtag } from '../shared/s3-names';
import type { VersionEntry } from './version-history';

export type WriteFence = { ifMatch: string } | { ifNoneMatch: '*' };

/** The fence for a write planned on top of `latest` (the target's latest entry, if any). */
export function fenceOn(
  latest: Pick<VersionEntry, 'isDeleteMarker' | 'etag'> | undefined,
): WriteFence | undefined {
  if (!latest || latest.isDeleteMarker) return { ifNoneMatch: '*' };
  return latest.etag ? { ifMatch: latest.etag } : undefined;
}

/** After a write of a version with `etag` (none: the following writes go unfenced). */
export function fenceAfterPut(etag: string | undefined): WriteFence | undefined {
  const bare = bareEtag(etag);
  return bare ? { ifMatch: bare } : undefined;
}

/** The request fields of PutObject and CompleteMultipartUpload for `fence`. */
export function fenceFields(fence: WriteFence | undefined): { IfMatch?: string; IfNoneMatch?: string } {
  if (!fence) return {};
  return 'ifMatch' in fence ? { IfMatch: `"${fence.ifMatch}"` } : { IfNoneMatch: '*' };
}

/**
 * The target refused a fenced write because its latest is no longer what the write was
 * planned on: 412, AWS's 409 ConditionalRequestConflict, or NoSuchKey for If-Match once the
 * latest became a delete marker.
 */
export function isFenceRejection(err: unknown, fence: WriteFence | undefined): boolean {
  if (!fence) return false;
  const code = errorCode(err);
  if (code === 'PreconditionFailed' || statusCode(err) === 412) return true;
  if (code === 'ConditionalRequestConflict') return true;
  return 'ifMatch' in fence && code === 'NoSuchKey';
}

/** Thrown by a copy whose fenced write was refused: the caller plans the change again. */
export class TargetChanged extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TargetChanged';
  }
}
