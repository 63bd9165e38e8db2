export { replicateKeyWorkflow } from './replicate-key';
export { siteControlWorkflow } from './site-control';
