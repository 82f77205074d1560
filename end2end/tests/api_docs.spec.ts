import { expect } from '@playwright/test';
import { hasJs, test } from './helpers';

// /api/docs renders /api/v1/openapi.json with a script the server itself serves: no request may
// leave the server (the page must work offline).
test('the API docs page renders every operation from the server alone', async ({ page }, testInfo) => {
  test.skip(!hasJs(testInfo), 'the docs page is rendered by its script');
  const base = new URL(testInfo.project.use.baseURL ?? process.env.BASE_URL ?? 'http://127.0.0.1:3000');
  const elsewhere: string[] = [];
  page.on('request', (r) => {
    if (new URL(r.url()).host !== base.host) elsewhere.push(r.url());
  });
  await page.goto('/api/docs');
  await expect(page.locator('body')).toHaveAttribute('data-rendered', 'true');
  await expect(page.locator('details.op').first()).toBeVisible();
  await expect(page.locator('main')).toContainText('/api/v1/branches/{branch}/diffs');
  await expect(page.locator('main')).toContainText('bearer');
  const operations = await page.locator('details.op').count();
  expect(operations).toBeGreaterThan(15);
  // The operation whose path is exactly this one (`…/review/dismiss` shares its start).
  const decide = page
    .locator('details.op')
    .filter({ has: page.locator('summary code').getByText('/api/v1/branches/{branch}/diffs/{chart_id}/review', { exact: true }) })
    .filter({ has: page.locator('summary .method.post') });
  await decide.locator('summary').click();
  await expect(page.locator('details.op[open]')).toContainText('staging_hash');
  expect(elsewhere).toEqual([]);
});
