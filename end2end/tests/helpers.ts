import { expect, type Page, type TestInfo } from '@playwright/test';
import * as path from 'node:path';

/** Signed-in browser state written by auth.setup.ts and used by the js and no-js projects. */
export const AUTH_FILE = path.join(__dirname, '..', '.auth', 'lead.json');
export const SCREENSHOTS = path.join(__dirname, '..', 'screenshots');

/** In a JavaScript-enabled project, wait until the app has hydrated (it sets `data-hydrated` on <body>). */
export async function ready(page: Page, testInfo: TestInfo) {
  if (testInfo.project.use.javaScriptEnabled !== false) {
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  }
}
