/** Every error class names itself: the bundles are minified without keepNames, so logs rely on it. */
import * as errors from '../../functions/domain/errors';

type ErrorClass = new (...args: unknown[]) => errors.VendingError;

const classes: Array<[string, ErrorClass]> = Object.entries(errors as Record<string, unknown>)
  .filter(([, value]) => typeof value === 'function' && (value === errors.VendingError || value.prototype instanceof errors.VendingError))
  .map(([name, value]) => [name, value as ErrorClass]);

test('there are error classes to check', () => {
  expect(classes.length).toBeGreaterThan(10);
});

test.each(classes)('%s names itself', (name, Cls) => {
  const instance = name === 'VendingError' ? new Cls('INTERNAL_ERROR', 'x') : name === 'MethodNotAllowed' ? new Cls(['GET']) : new Cls('x', 'y');
  expect(instance.name).toBe(name);
});
