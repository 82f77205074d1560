import { expect, type APIRequestContext, type Page, type TestInfo } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
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

export const BRANCH = 'feature-energy-update';

/** True in the project that runs with JavaScript (and so hydrates). */
export function hasJs(testInfo: TestInfo): boolean {
  return testInfo.project.use.javaScriptEnabled !== false;
}

/** Headers for the JSON API, authenticated with the token scripts/e2e.sh created. */
export function apiHeaders(): Record<string, string> {
  const token = process.env.CHARTGATE_TOKEN;
  expect(token, 'CHARTGATE_TOKEN must be set (scripts/e2e.sh sets it)').toBeTruthy();
  return { Authorization: `Bearer ${token}` };
}

export interface DiffItem {
  chart_id: string;
  slug: string;
  title: string;
  kind: 'new' | 'modified' | 'deleted';
  parts: string[];
  conflict: boolean;
  review: { status: string; reviewer: string | null; stale: boolean };
  staging_hash: string | null;
  production_hash: string | null;
  error?: string | null;
}

/** `GET /api/v1/branches/{branch}/diffs?{query}`: the items, in the list's default order. */
export async function listItems(request: APIRequestContext, query: string, branch = BRANCH): Promise<DiffItem[]> {
  const response = await request.get(`/api/v1/branches/${branch}/diffs?${query}`, { headers: apiHeaders() });
  expect(response.status(), await response.text()).toBe(200);
  return (await response.json()).items as DiffItem[];
}

/**
 * Runs `fn` while holding a lock shared by every worker of this run (a directory created
 * atomically). Tests that approve items on the shared demo branch take it, so the review test
 * can assert that the branch-wide approved count grows by exactly one.
 */
export async function exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const port = new URL(process.env.BASE_URL ?? 'http://127.0.0.1:3000').port || '80';
  const dir = path.join(os.tmpdir(), `chartgate-e2e-${port}-${name}.lock`);
  const tryAcquire = () => {
    try {
      fs.mkdirSync(dir);
      return true;
    } catch {
      return false;
    }
  };
  await expect.poll(tryAcquire, { message: `lock ${name}`, timeout: 25_000, intervals: [50, 100, 200] }).toBe(true);
  try {
    return await fn();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
