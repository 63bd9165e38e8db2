export { replicateKeyWorkflow } from './replicate-key';
export { siteControlWorkflow } from './site-control';
export { backfillWorkflow } from './backfill';
