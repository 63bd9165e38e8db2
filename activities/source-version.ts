import type { Readable } from 'node:stream';
import {
  GetObjectCommand,
  GetObjectTaggingCommand,
  type GetObjectCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { TaskEntry } from '../shared/replication-task';
import type { Tag } from './replica-metadata';

/** What a copy needs to know about the source version besides its bytes. */
export interface SourceVersion {
  size: number;
  etag?: string;
  headers: {
    ContentType?: string;
    CacheControl?: string;
    ContentDisposition?: string;
    ContentEncoding?: string;
    ContentLanguage?: string;
    Expires?: Date;
  };
  userMetadata?: Record<string, string>;
  tags: Tag[];
  /** The source's server-side encryption (`AES256`, `aws:kms`…): KMS ETags are not MD5s. */
  encryption?: string;
}

/** The version id to send to S3: "null" addresses the null version of an unversioned or suspended bucket. */
export function s3VersionId(entry: Pick<TaskEntry, 'versionId'>): string {
  return entry.versionId;
}

export async function readSourceTags(s3: S3Client, entry: TaskEntry): Promise<Tag[]> {
  return readVersionTags(s3, entry.bucket, entry.key, s3VersionId(entry));
}

/** One version's tags, on any site. */
export async function readVersionTags(
  s3: S3Client,
  bucket: string,
  key: string,
  versionId: string,
): Promise<Tag[]> {
  const tagging = await s3.send(
    new GetObjectTaggingCommand({ Bucket: bucket, Key: key, VersionId: versionId }),
  );
  return (tagging.TagSet ?? []).map((t) => ({ Key: t.Key ?? '', Value: t.Value ?? '' }));
}

/** GETs the source version: its stream (for single PUTs) and its description. */
export async function openSourceVersion(
  s3: S3Client,
  entry: TaskEntry,
): Promise<{ body: Readable; source: SourceVersion }> {
  const response: GetObjectCommandOutput = await s3.send(
    new GetObjectCommand({ Bucket: entry.bucket, Key: entry.key, VersionId: s3VersionId(entry) }),
  );
  const body = response.Body as Readable;
  try {
    const tags = (response.TagCount ?? 0) > 0 ? await readSourceTags(s3, entry) : [];
    return {
      body,
      source: {
        size: response.ContentLength ?? 0,
        etag: response.ETag,
        headers: {
          ContentType: response.ContentType,
          CacheControl: response.CacheControl,
          ContentDisposition: response.ContentDisposition,
          ContentEncoding: response.ContentEncoding,
          ContentLanguage: response.ContentLanguage,
          Expires: response.Expires,
        },
        userMetadata: response.Metadata,
        tags,
        ...(response.ServerSideEncryption ? { encryption: response.ServerSideEncryption } : {}),
      },
    };
  } catch (err) {
    body.destroy();
    throw err;
  }
}

/** Tags as the Tagging header of PutObject / CreateMultipartUpload carries them. */
export function taggingHeader(tags: Tag[]): string | undefined {
  if (tags.length === 0) return undefined;
  return new URLSearchParams(tags.map((t): [string, string] => [t.Key, t.Value])).toString();
}

/** True when the version's tags satisfy every tag a rule requires. */
export function tagsMatch(tags: Tag[], required: Record<string, string>): boolean {
  return Object.entries(required).every(([k, v]) => tags.some((t) => t.Key === k && t.Value === v));
}
