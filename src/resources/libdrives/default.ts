/**
 * The built-in library catalog (`--library FILE` replaces it; docs/library.md): two pre-installed
 * disks and two installation cdroms, enough for clients that clone an image or attach a cdrom.
 * Written in the catalog's own format, so it doubles as an example of it.
 */
import type { CatalogEntry } from './entry.js';

const GIB = 1024 ** 3;

export const DEFAULT_LIBRARY: readonly CatalogEntry[] = [
  {
    uuid: 'c0c2212a-3bbb-49e3-a42d-ab2f43244445',
    name: 'Ubuntu 24.04 LTS Server',
    media: 'disk',
    size: 10 * GIB,
    arch: '64',
    category: ['general', 'webserver', 'dbserver'],
    description: 'Ubuntu 24.04 LTS Server, 64-bit, pre-installed with VirtIO drivers and SSH.',
    distribution: 'Ubuntu',
    favourite: true,
    image_type: 'preinst',
    install_notes:
      'Clone the image, attach the clone to a server and start it. Log in as "cloudsigma" with the password you set in the server meta, or with the SSH key given in the meta key ssh_public_key.',
    os: 'linux',
    paid: false,
    url: 'https://ubuntu.com/',
    version: '24.04',
    default_user: 'cloudsigma',
  },
  {
    uuid: 'c040c3cc-8726-48b1-9f1a-bf82fd02a3cb',
    name: 'Debian 12 (bookworm)',
    media: 'disk',
    size: 10 * GIB,
    arch: '64',
    category: ['general'],
    description: 'Debian 12 (bookworm), 64-bit, pre-installed with VirtIO drivers and SSH.',
    distribution: 'Debian',
    favourite: false,
    image_type: 'preinst',
    install_notes:
      'Clone the image, attach the clone to a server and start it. Log in as "cloudsigma" with the SSH key given in the meta key ssh_public_key.',
    os: 'linux',
    paid: false,
    url: 'https://www.debian.org/',
    version: '12',
    default_user: 'cloudsigma',
  },
  {
    uuid: '5587dc36-272e-4b5b-8ee7-3251347bdd3f',
    name: 'Ubuntu 24.04 LTS Server Install CD',
    media: 'cdrom',
    size: 2_754_981_888,
    arch: '64',
    category: ['general'],
    description: 'The Ubuntu 24.04 LTS live server installer.',
    distribution: 'Ubuntu',
    favourite: false,
    image_type: 'install',
    install_notes:
      'Attach the CD to a server together with an empty disk, boot from it and follow the installer.',
    os: 'linux',
    paid: false,
    url: 'https://ubuntu.com/download/server',
    version: '24.04',
  },
  {
    uuid: 'ebbe906c-f31c-40ef-8d76-f47a9a184460',
    name: 'VirtIO Drivers for Windows',
    media: 'cdrom',
    size: 753_766_400,
    arch: '64',
    category: ['other'],
    description: 'VirtIO disk and network drivers for Windows guests.',
    distribution: null,
    favourite: false,
    image_type: 'install',
    install_notes:
      'Attach the CD to the server while installing Windows and load the drivers from it when the installer asks for a disk.',
    os: 'windows',
    paid: false,
    url: '',
    version: null,
  },
];
