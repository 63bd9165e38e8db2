import { z } from 'zod';

/** The ReplicationConfiguration JSON that `aws s3api put-bucket-replication` takes. */
const TagSchema = z.object({ Key: z.string().min(1).max(128), Value: z.string().max(256) });

const FilterSchema = z
  .object({
    Prefix: z.string().optional(),
    Tag: TagSchema.optional(),
    And: z.object({ Prefix: z.string().optional(), Tags: z.array(TagSchema).optional() }).optional(),
  })
  .refine((f) => [f.Prefix, f.Tag, f.And].filter((v) => v !== undefined).length <= 1, {
    message: 'a Filter has exactly one of Prefix, Tag or And',
  });

const BUCKET_ARN = /^arn:aws:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const RuleSchema = z.object({
  ID: z.string().max(255, 'must be at most 255 characters').optional(),
  Priority: z.number().int().nonnegative().optional(),
  Status: z.enum(['Enabled', 'Disabled']),
  Prefix: z.string().optional(),
  Filter: FilterSchema.optional(),
  Destination: z.object({
    Bucket: z
      .string()
      .transform((b) => (BUCKET_NAME.test(b) ? `arn:aws:s3:::${b}` : b))
      .refine((b) => BUCKET_ARN.test(b), 'must be an S3 bucket ARN like arn:aws:s3:::name'),
    StorageClass: z.string().optional(),
    Account: z.string().optional(),
  }),
  DeleteMarkerReplication: z.object({ Status: z.enum(['Enabled', 'Disabled']) }).optional(),
  SourceSelectionCriteria: z.unknown().optional(),
  ExistingObjectReplication: z.unknown().optional(),
});

export const ReplicationConfigurationSchema = z
  .object({ Role: z.string().min(1), Rules: z.array(RuleSchema).min(1).max(1000) })
  .superRefine((config, ctx) => {
    const ids = new Set<string>();
    const priorities = new Set<number>();
    const v2 = config.Rules.filter((r) => r.Filter !== undefined);
    config.Rules.forEach((rule, i) => {
      if (rule.ID !== undefined) {
        if (ids.has(rule.ID))
          ctx.addIssue({
            code: 'custom',
            path: ['Rules', i, 'ID'],
            message: `duplicate rule ID "${rule.ID}"`,
          });
        ids.add(rule.ID);
      }
      if (rule.Filter && rule.Prefix !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['Rules', i, 'Prefix'],
          message: 'use Filter.Prefix with a Filter (V2 rule)',
        });
      }
      if (rule.Filter) {
        if (v2.length > 1 && rule.Priority === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['Rules', i, 'Priority'],
            message: 'required when several rules have a Filter',
          });
        }
        if (rule.Priority !== undefined && v2.length > 1) {
          if (priorities.has(rule.Priority)) {
            ctx.addIssue({
              code: 'custom',
              path: ['Rules', i, 'Priority'],
              message: `duplicate priority ${rule.Priority}`,
            });
          }
          priorities.add(rule.Priority);
        }
        const tagged = rule.Filter.Tag !== undefined || (rule.Filter.And?.Tags?.length ?? 0) > 0;
        if (tagged && rule.DeleteMarkerReplication?.Status === 'Enabled') {
          ctx.addIssue({
            code: 'custom',
            path: ['Rules', i, 'DeleteMarkerReplication'],
            message: 'delete marker replication is not supported with tag-based filters (AWS rejects it)',
          });
        }
      }
    });
    if (v2.length > 0 && v2.length < config.Rules.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['Rules'],
        message: 'V1 rules (top-level Prefix) and V2 rules (Filter) cannot be mixed',
      });
    }
  });

export type ReplicationConfiguration = z.infer<typeof ReplicationConfigurationSchema>;
export type ReplicationRule = ReplicationConfiguration['Rules'][number];
