/** The package's public API, for embedding sigmalite in a test suite or another program. */
export { type App, createApp } from './app.js';
export { type Config, DEFAULTS, resolveConfig } from './config.js';
