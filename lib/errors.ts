/**
 * A setting (prop or CDK context value) that the stack cannot be built with; says which one and why.
 *
 * @example
 * throw new InvalidTokenVendingSetting('wafRateLimit', 'must be an integer of at least 10');
 */
export class InvalidTokenVendingSetting extends Error {
  public readonly setting: string;

  constructor(setting: string, reason: string) {
    super(`Invalid setting "${setting}": ${reason}`);
    this.name = 'InvalidTokenVendingSetting';
    this.setting = setting;
  }
}
