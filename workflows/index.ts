export { replicateKeyWorkflow } from './replicate-key';
