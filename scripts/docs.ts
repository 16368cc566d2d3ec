// `npm run docs`: writes the generated documentation (docs/configuration.md).
import { writeFileSync } from 'node:fs';
import { renderConfigurationDoc } from '../src/docs/configuration.js';

writeFileSync(new URL('../docs/configuration.md', import.meta.url), renderConfigurationDoc());
