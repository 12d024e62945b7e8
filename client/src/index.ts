export { TokenVendingClient } from './token-vending-client.js';
export { TokenVendingError } from './errors.js';
export type { ClientErrorCode, ServiceErrorCode, TokenVendingErrorCode, TokenVendingErrorDetails } from './errors.js';
export type { FetchLike, TokenVendingClientOptions, TokenVendingEvent } from './options.js';
export type { Clock } from './clock.js';
export type { VendedToken } from './vended-token.js';
export { TENANT_ID_PATTERN } from './tenant-id.js';
export { DEFAULT_EKUAIBAO_BASE_URL } from './config.js';
