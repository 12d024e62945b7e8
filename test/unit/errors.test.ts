/** Every error class names itself: the bundles are minified without keepNames, so logs rely on it. */
import * as errors from '../../functions/domain/errors';

const classes = Object.entries(errors).filter(
  (entry): entry is [string, new (...args: never[]) => errors.VendingError] =>
    typeof entry[1] === 'function' && (entry[1] === errors.VendingError || entry[1].prototype instanceof errors.VendingError),
);

test('there are error classes to check', () => {
  expect(classes.length).toBeGreaterThan(10);
});

test.each(classes.map(([name, cls]) => [name, cls] as const))('%s names itself', (name, cls) => {
  const Cls = cls as unknown as new (...args: unknown[]) => errors.VendingError;
  const instance = name === 'VendingError' ? new Cls('INTERNAL_ERROR', 'x') : name === 'MethodNotAllowed' ? new Cls(['GET']) : new Cls('x', 'y');
  expect(instance.name).toBe(name);
});
