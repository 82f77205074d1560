import { expect, type Page } from '@playwright/test';
import { apiHeaders, BRANCH, hasJs, listItems, ready, test } from './helpers';

// Every page checked with axe-core (from npm, injected into the page): a serious or critical
// violation fails the test, with the rule, its help and the offending elements in the message.
const AXE = require.resolve('axe-core/axe.min.js');
const FIX_BRANCH = 'fix-population-labels';

interface AxeNode {
  target: string[];
  failureSummary?: string;
}
interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: AxeNode[];
}

async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.addScriptTag({ path: AXE });
  const violations: AxeViolation[] = await page.evaluate(async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const axe = (window as any).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations;
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

function describe(violations: AxeViolation[]): string {
  return violations
    .map((v) => `${v.impact} ${v.id}: ${v.help}\n` + v.nodes.map((n) => `  ${n.target.join(' ')}: ${n.failureSummary ?? ''}`).join('\n'))
    .join('\n');
}

async function check(page: Page, path: string, testInfo: import('@playwright/test').TestInfo) {
  const response = await page.goto(path);
  expect(response?.status(), path).toBeLessThan(500);
  await ready(page, testInfo);
  const violations = await axeViolations(page);
  expect(violations, `${path}\n${describe(violations)}`).toEqual([]);
}

// axe runs as a script in the page, so it needs JavaScript; the pages are the same without it.
test.beforeEach(async ({}, testInfo) => {
  test.skip(!hasJs(testInfo), 'axe-core runs in the page');
});

// The pages' Content-Security-Policy allows no injected script: the check bypasses it, as a
// browser extension would.
test.use({ bypassCSP: true });

test.describe('signed out', () => {
  test.use({ storageState: { cookies: [], origins: [] } });
  test('the sign-in page has no serious accessibility violation', async ({ page }, testInfo) => {
    await check(page, '/login', testInfo);
  });
});

test('every signed-in page has no serious accessibility violation', async ({ page, request }, testInfo) => {
  test.setTimeout(120_000);
  const [data] = await listItems(request, 'kind=modified&part=data&conflict=false&per_page=1');
  const [conflict] = await listItems(request, 'conflict=true&per_page=1');
  const fix = await listItems(request, 'per_page=500', FIX_BRANCH);
  const unreadable = fix.find((i) => i.error);
  const stale = fix.find((i) => i.review.stale);
  const groups = await (await request.get(`/api/v1/branches/${BRANCH}/groups`, { headers: apiHeaders() })).json();
  const jobs = await (await request.get('/api/v1/sync/jobs', { headers: apiHeaders() })).json().catch(() => []);

  const pages = [
    '/',
    `/branches/${BRANCH}`,
    `/branches/${BRANCH}?kind=new&sort=slug`,
    `/branches/${BRANCH}?q=no-such-chart-anywhere`,
    `/branches/${BRANCH}/charts/${encodeURIComponent(data.chart_id)}`,
    `/branches/${BRANCH}/charts/${encodeURIComponent(data.chart_id)}?layout=overlay`,
    `/branches/${BRANCH}/charts/${encodeURIComponent(data.chart_id)}?layout=swipe`,
    `/branches/${BRANCH}/charts/${encodeURIComponent(conflict.chart_id)}`,
    `/branches/${BRANCH}/groups`,
    `/branches/${BRANCH}/groups/${groups[0].id}`,
    `/branches/${FIX_BRANCH}`,
    `/audit`,
    `/jobs`,
    `/versions/${data.staging_hash}`,
    '/no/such/page',
  ];
  if (unreadable) pages.push(`/branches/${FIX_BRANCH}/charts/${encodeURIComponent(unreadable.chart_id)}`);
  if (stale) pages.push(`/branches/${FIX_BRANCH}/charts/${encodeURIComponent(stale.chart_id)}`);
  if (Array.isArray(jobs) && jobs.length > 0) pages.push(`/jobs/${jobs[0].id}`);

  const failures: string[] = [];
  for (const path of pages) {
    const response = await page.goto(path);
    expect(response?.status(), path).toBeLessThan(500);
    await ready(page, testInfo);
    const violations = await axeViolations(page);
    if (violations.length > 0) failures.push(`${path}\n${describe(violations)}`);
  }
  expect(failures, failures.join('\n\n')).toEqual([]);
});
