// `npm run docs`: writes the generated documentation (docs/configuration.md, docs/support.md).
import { writeFileSync } from 'node:fs';
import { renderConfigurationDoc } from '../src/docs/configuration.js';
import { defaultRoutes } from '../src/docs/route-table.js';
import { renderSupportMatrix } from '../src/docs/support.js';

writeFileSync(new URL('../docs/configuration.md', import.meta.url), renderConfigurationDoc());
writeFileSync(
  new URL('../docs/support.md', import.meta.url),
  renderSupportMatrix(await defaultRoutes()),
);
