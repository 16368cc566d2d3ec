/**
 * The resource modules the app is made of, in the order their routes are matched. A new resource
 * is a folder with a `module.ts`, listed here (docs/architecture.md, "Adding a resource").
 */
import { accountsModule } from './accounts/module.js';
import { aclsModule } from './acls/module.js';
import { balanceModule } from './balance/module.js';
import { billingModule } from './billing/module.js';
import { capabilitiesModule } from './capabilities/module.js';
import { cloudStatusModule } from './cloudstatus/module.js';
import { contextModule } from './context/module.js';
import { drivesModule } from './drives/module.js';
import { jobsModule } from './jobs/module.js';
import { keypairsModule } from './keypairs/module.js';
import { libdrivesModule } from './libdrives/module.js';
import { locationsModule } from './locations/module.js';
import { logsModule } from './logs/module.js';
import type { ResourceModule } from './module.js';
import { networkingModule } from './networking/module.js';
import { profileModule } from './profile/module.js';
import { serversModule } from './servers/module.js';
import { snapshotsModule } from './snapshots/module.js';
import { tagsModule } from './tags/module.js';
import { usageModule } from './usage/module.js';

export const RESOURCE_MODULES: readonly ResourceModule[] = [
  accountsModule,
  serversModule,
  drivesModule,
  tagsModule,
  aclsModule,
  snapshotsModule,
  libdrivesModule,
  jobsModule,
  keypairsModule,
  contextModule,
  logsModule,
  networkingModule,
  billingModule,
  usageModule,
  profileModule,
  balanceModule,
  capabilitiesModule,
  locationsModule,
  cloudStatusModule,
];
