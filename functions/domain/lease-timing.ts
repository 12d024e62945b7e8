// Moved to contract/lease-timing.ts (the formulas the function and the stack share).
export * from '../../contract/lease-timing';
