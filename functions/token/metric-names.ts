// Moved to contract/metrics.ts.
export * from '../../contract/metrics';
