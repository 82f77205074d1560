import { expect, test as base, type APIRequestContext, type Page, type TestInfo } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Signed-in browser state written by auth.setup.ts and used by the js and no-js projects. */
export const AUTH_FILE = path.join(__dirname, '..', '.auth', 'lead.json');
export const SCREENSHOTS = path.join(__dirname, '..', 'screenshots');

/**
 * What the browser said while a test ran: console errors and warnings, and uncaught exceptions
 * (a Rust panic in the WebAssembly arrives as both). Kept per page so `ready` can name it when a
 * page never hydrates.
 */
const browserLogs = new WeakMap<Page, string[]>();

function logOf(page: Page): string[] {
  let log = browserLogs.get(page);
  if (!log) {
    log = [];
    browserLogs.set(page, log);
  }
  return log;
}

/**
 * `test` for every spec: records the browser's console errors and uncaught exceptions of every
 * page of the test's context, attaches them to the report, and fails the test when the app
 * panicked or threw (a hydration panic would otherwise show only as a missing marker).
 */
export const test = base.extend<{ browserLog: void }>({
  browserLog: [
    async ({ context }, use, testInfo) => {
      const all: string[] = [];
      context.on('console', (message) => {
        if (message.type() !== 'error' && message.type() !== 'warning') return;
        const line = `console.${message.type()} ${message.page()?.url() ?? ''}: ${message.text()}`;
        all.push(line);
        const page = message.page();
        if (page) logOf(page).push(line);
      });
      context.on('weberror', (error) => {
        const line = `uncaught ${error.page()?.url() ?? ''}: ${error.error().message}`;
        all.push(line);
        const page = error.page();
        if (page) logOf(page).push(line);
      });
      await use();
      if (all.length > 0) {
        await testInfo.attach('browser-log', { body: all.join('\n'), contentType: 'text/plain' });
      }
      const crashes = all.filter((line) => line.startsWith('uncaught') || line.includes('panicked at'));
      expect(crashes, 'the app must not panic or throw in the browser').toEqual([]);
    },
    { auto: true },
  ],
});

/** In a JavaScript-enabled project, wait until the app has hydrated (it sets `data-hydrated` on <body>). */
export async function ready(page: Page, testInfo: TestInfo) {
  if (testInfo.project.use.javaScriptEnabled !== false) {
    // The debug bundle is large and two workers load it at once on a 2-core machine: hydration
    // can take well over the default 10 s there. Still a poll with a deadline, never a sleep.
    const body = page.locator('body');
    await expect(body, { message: `hydration of ${page.url()}; the browser said:\n${logOf(page).join('\n') || '(nothing)'}` }).toHaveAttribute('data-hydrated', 'true', { timeout: 30_000 }).catch(async (error: Error) => {
      // Name what the page was doing: which of its scripts and wasm had loaded, and what it logged.
      const loaded = await page
        .evaluate(() => performance.getEntriesByType('resource').map((e) => `${e.name} ${Math.round(e.duration)} ms`))
        .catch(() => [] as string[]);
      throw new Error(`${error.message}\nloaded:\n${loaded.join('\n')}\nbrowser log:\n${logOf(page).join('\n') || '(nothing)'}`);
    });
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
export async function exclusive<T>(name: string, fn: () => Promise<T>, timeout = 25_000): Promise<T> {
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
  await expect.poll(tryAcquire, { message: `lock ${name}`, timeout, intervals: [50, 100, 200] }).toBe(true);
  try {
    return await fn();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Data-modified, non-conflicting charts drawn as SVG (table-type charts render an HTML table
 * inside their figure instead), in the list's order. The detail API tells the chart type.
 */
export async function svgDataCharts(request: APIRequestContext, extra = ''): Promise<string[]> {
  const items = await listItems(request, `kind=modified&part=data&conflict=false&per_page=100${extra}`);
  const ids: string[] = [];
  for (const item of items) {
    const r = await request.get(`/api/v1/branches/${BRANCH}/diffs/${encodeURIComponent(item.chart_id)}`, {
      headers: apiHeaders(),
    });
    expect(r.status()).toBe(200);
    const detail = await r.json();
    if (!['table', undefined].includes(detail.staging?.config?.type)) ids.push(item.chart_id);
  }
  return ids;
}

/** Opens the detail page of `chartId` by clicking its title in the list filtered by `query`. */
export async function openFromList(page: Page, query: string, chartId: string, testInfo: TestInfo) {
  await page.goto(`/branches/${BRANCH}?${query}`);
  await ready(page, testInfo);
  const row = page.locator(`[data-testid=diff-row][data-chart-id="${chartId}"]`);
  await expect(row).toHaveCount(1);
  await row.locator('a.title').click();
  await expect(page).toHaveURL(new RegExp(`/branches/${BRANCH}/charts/${chartId}(\\?.*)?$`));
  await ready(page, testInfo);
  await expect(page.locator('[data-testid=chart-title]')).toBeVisible();
}
