import { expect, type Page } from '@playwright/test';
import * as path from 'node:path';
import { ready, SCREENSHOTS, test } from './helpers';

const BRANCH = 'feature-energy-update';
const KINDS = /^(NEW|MODIFIED|DELETED)$/;

async function badgeTexts(page: Page): Promise<string[]> {
  const texts = await page.locator('[data-testid=diff-row] [data-testid=kind-badge]').allInnerTexts();
  return texts.map((t) => t.trim().toUpperCase());
}

test('branches page links to the diff list of a branch', async ({ page }, testInfo) => {
  await page.goto('/');
  await ready(page, testInfo);

  const row = page.locator('[data-testid=branch-row]').filter({ hasText: BRANCH });
  await expect(row).toHaveCount(1);
  await row.locator(`a[href$="/branches/${BRANCH}"]`).first().click();

  await expect(page).toHaveURL(new RegExp(`/branches/${BRANCH}(\\?.*)?$`));
  await ready(page, testInfo);
  await expect(page.locator('h1')).toContainText(BRANCH);

  const rows = page.locator('[data-testid=diff-row]');
  await expect(rows.first()).toBeVisible();
  const rowCount = await rows.count();
  expect(rowCount).toBeGreaterThan(0);

  // Every row carries exactly one kind badge, and its text is a known kind.
  await expect(page.locator('[data-testid=diff-row] [data-testid=kind-badge]')).toHaveCount(rowCount);
  for (const text of await badgeTexts(page)) {
    expect(text).toMatch(KINDS);
  }

  const suffix = testInfo.project.name === 'js' ? '' : `-${testInfo.project.name}`;
  await page.screenshot({ path: path.join(SCREENSHOTS, `diff-list${suffix}.png`), fullPage: true });
});

test('kind filter shows only new charts', async ({ page }, testInfo) => {
  await page.goto(`/branches/${BRANCH}?kind=new`);
  await ready(page, testInfo);
  await expect(page.locator('h1')).toContainText(BRANCH);

  await expect(page.locator('[data-testid=diff-row]').first()).toBeVisible();
  const texts = await badgeTexts(page);
  expect(texts.length).toBeGreaterThan(0);
  expect(new Set(texts)).toEqual(new Set(['NEW']));
});

test('API lists the demo branch', async ({ request }, testInfo) => {
  test.skip(testInfo.project.name !== 'js', 'API check runs once, in the js project');
  const token = process.env.CHARTGATE_TOKEN;
  expect(token, 'CHARTGATE_TOKEN must be set (scripts/test.sh creates one)').toBeTruthy();

  const response = await request.get('/api/v1/branches', {
    headers: { Authorization: `Bearer ${token}` },
  });
  expect(response.status()).toBe(200);
  const branches = await response.json();
  expect(Array.isArray(branches)).toBe(true);
  expect(branches.map((b: { name?: string }) => b.name)).toContain(BRANCH);
});
