import type { Fault, SimulatorEndpoint } from './types';
import type { ErrorDialect } from './upstream-routes';

interface ArmedFault {
  fault: Fault;
  /** Calls left; undefined means until cleared. */
  remaining: number | undefined;
}

/**
 * Injected faults in the order they were added. The first one that matches a call applies
 * to it and uses up one of its `times`; a fault with none left is gone.
 */
export class FaultBook {
  private armed: ArmedFault[] = [];

  add(fault: Fault): void {
    // Copied so a caller mutating its object later cannot change a fault already armed.
    this.armed.push({ fault: { ...fault }, remaining: fault.times });
  }

  clear(): void {
    this.armed = [];
  }

  take(endpoint: SimulatorEndpoint): Fault | undefined {
    const index = this.armed.findIndex((a) => a.fault.endpoint === '*' || a.fault.endpoint === endpoint);
    const match = this.armed[index];
    if (!match) return undefined;
    if (match.remaining !== undefined && --match.remaining <= 0) this.armed.splice(index, 1);
    return match.fault;
  }
}

/** What an injected fault does to the call it matched. */
export type FaultEffect =
  | { kind: 'answer'; status: number; body: unknown; refused: boolean }
  | { kind: 'raw'; status: number; text: string }
  | { kind: 'delay'; ms: number }
  | { kind: 'hang' }
  | { kind: 'drop' };

const DEFAULT_MALFORMED_BODY = '<html><body>502 Bad Gateway: oops</body></html>';

/**
 * @param dialect the endpoint's own error bodies, so an injected 403 is indistinguishable from
 *   a real refusal and other statuses get an error in the shape the endpoint uses.
 */
export function faultEffect(fault: Fault, dialect: ErrorDialect): FaultEffect {
  switch (fault.mode) {
    case 'status': {
      const status = fault.status ?? 500;
      if (status === 403) return { kind: 'answer', status, body: dialect.rejection, refused: true };
      return { kind: 'answer', status, body: dialect.error(status), refused: false };
    }
    case 'envelope': {
      // The schema keeps this mode to v3, the one endpoint with an envelope.
      const reply = dialect.envelope?.(fault.code ?? '500');
      if (!reply) throw new Error('envelope fault on an endpoint without an envelope');
      const status = fault.status ?? reply.status;
      return { kind: 'answer', status, body: reply.body, refused: reply.refused === true || status === 403 };
    }
    case 'delay':
      return { kind: 'delay', ms: fault.delayMs ?? 0 };
    case 'hang':
      return { kind: 'hang' };
    case 'malformed':
      return { kind: 'raw', status: fault.status ?? 200, text: fault.body ?? DEFAULT_MALFORMED_BODY };
    case 'drop':
      return { kind: 'drop' };
  }
}
