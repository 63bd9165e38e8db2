import fs from 'node:fs';
import path from 'node:path';
import { FAILURE_CODES } from '../../shared/failure-codes';

test('docs/OPERATIONS.md documents every failure code', () => {
  const doc = fs.readFileSync(path.resolve(__dirname, '..', '..', 'docs', 'OPERATIONS.md'), 'utf8');
  const undocumented = Object.keys(FAILURE_CODES).filter((code) => !doc.includes(`| \`${code}\``));
  expect(undocumented).toEqual([]);
});
