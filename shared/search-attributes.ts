import { defineSearchAttributeKey } from '@temporalio/common';

/**
 * Custom search attributes of replication workflows, so that an operator can find a
 * replication in the Temporal UI or with `temporal workflow list --query` by bucket, key,
 * destination site and status (e.g. `CrrStatus = "FAILED"`).
 */
export const CRR_BUCKET = defineSearchAttributeKey('CrrBucket', 'KEYWORD');
export const CRR_KEY = defineSearchAttributeKey('CrrKey', 'KEYWORD');
export const CRR_SITE = defineSearchAttributeKey('CrrSite', 'KEYWORD');
export const CRR_STATUS = defineSearchAttributeKey('CrrStatus', 'KEYWORD');
/** The stable code of the key's latest failure (shared/failure-codes.ts), set with CrrStatus = FAILED. */
export const CRR_REASON = defineSearchAttributeKey('CrrReason', 'KEYWORD');

/** Name → Temporal type, for registering them on a server. */
export const CRR_SEARCH_ATTRIBUTES: Record<string, 'Keyword'> = {
  CrrBucket: 'Keyword',
  CrrKey: 'Keyword',
  CrrSite: 'Keyword',
  CrrStatus: 'Keyword',
  CrrReason: 'Keyword',
};
