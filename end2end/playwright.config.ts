import { defineConfig } from '@playwright/test';
import { AUTH_FILE } from './tests/helpers';

// Runs against an already started server (scripts/test.sh starts one and exports BASE_URL).
// Uses Debian's Chromium: browsers are never downloaded.
export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  workers: 2,
  reporter: 'list',
  use: {
    baseURL: process.env.BASE_URL ?? 'http://127.0.0.1:3000',
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  // `setup` signs in once (tests/auth.setup.ts); both browser projects reuse its session cookie.
  projects: [
    { name: 'setup', testMatch: /.*\.setup\.ts/ },
    { name: 'js', use: { javaScriptEnabled: true, storageState: AUTH_FILE }, dependencies: ['setup'] },
    { name: 'no-js', use: { javaScriptEnabled: false, storageState: AUTH_FILE }, dependencies: ['setup'] },
  ],
});
