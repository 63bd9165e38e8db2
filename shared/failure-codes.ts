/**
 * Stable failure codes, in the spirit of AWS's replication failure reasons: every FAILED
 * reason starts with one (`[TARGET_BUCKET_MISSING] copying data failed for …`), the workflow
 * sets it as the `CrrReason` search attribute, and operators filter and alert on it.
 */
export const FAILURE_CODES = {
  SOURCE_VERSION_MISSING: 'the source version no longer exists (deleted before it was copied)',
  SOURCE_BUCKET_MISSING: 'the source bucket does not exist',
  SOURCE_ACCESS_DENIED: 'the source site refused access to the version, its tags or its listing',
  TARGET_BUCKET_MISSING: 'the destination bucket does not exist',
  TARGET_ACCESS_DENIED: 'the destination site refused the write',
  TARGET_VERSIONING_DISABLED: 'the destination bucket does not keep versions',
  INVALID_CREDENTIALS: 'a site rejected the access key or the signature (wrong or rotated credentials)',
  SOURCE_UNREACHABLE: 'no answer from the source site (connection refused, reset or timed out)',
  TARGET_UNREACHABLE: 'no answer from the destination site (connection refused, reset or timed out)',
  WRITE_EXPIRED:
    'a write reached the destination more than 3 s after it was signed (a slow network or site) and was refused without acting',
  TARGET_CHANGED:
    "the destination key's latest version kept changing under the engine's conditional writes (another writer)",
  CHECKSUM_MISMATCH: 'the bytes on the destination differ from the source (size, MD5 or multipart ETag)',
  NO_ROOM_FOR_MARKER: "the object's metadata and tags leave no room for the replica marker",
  METADATA_TOO_LARGE: 'the destination refused the metadata (over its size limit)',
  THROTTLED: 'a site asked to slow down',
  SERVER_ERROR: 'a site answered with a server error (5xx)',
  INVALID_REQUEST: 'a site refused the request as invalid (4xx)',
  UNKNOWN: 'anything else (see the reason)',
} as const;

export type FailureCode = keyof typeof FAILURE_CODES;

/** The code at the start of a reason (`[CODE] …`), or undefined. */
export function failureCodeOf(reason: string | undefined): FailureCode | undefined {
  const match = /^\[([A-Z_]+)\]/.exec(reason ?? '');
  return match && match[1]! in FAILURE_CODES ? (match[1] as FailureCode) : undefined;
}
