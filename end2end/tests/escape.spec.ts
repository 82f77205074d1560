import { expect } from '@playwright/test';
import { BRANCH, hasJs, ready, test } from './helpers';

// Chart content is data: a title that is markup must show as text and never run.
test('a chart title that is markup is shown as text', async ({ page }, testInfo) => {
  const dialogs: string[] = [];
  page.on('dialog', async (dialog) => {
    dialogs.push(dialog.message());
    await dialog.dismiss();
  });

  await page.goto(`/branches/${BRANCH}?q=claims`);
  await ready(page, testInfo);
  const rows = page.locator('[data-testid=diff-row]');
  await expect(rows).toHaveCount(1);
  const title = rows.locator('a.title');
  await expect(title).toContainText("<script>alert(");
  await expect(title).toHaveText("<script>alert('xss')</script> & <b>bold</b> claims");
  // Nothing in the row was parsed as markup.
  await expect(rows.locator('script, b')).toHaveCount(0);
  await expect(page.locator('#search')).toHaveValue('claims');

  // The detail page shows it as text too (heading and chart captions).
  await title.click();
  await ready(page, testInfo);
  await expect(page.locator('[data-testid=chart-title]')).toHaveText(
    "<script>alert('xss')</script> & <b>bold</b> claims",
  );
  await expect(page.locator('[data-testid=chart-title] *, figure script, figure b')).toHaveCount(0);
  await expect(page.locator('[data-testid=chart-svg]').first()).toBeVisible();

  if (hasJs(testInfo)) {
    // Let any injected script have had its chance: the page is hydrated and interactive.
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  }
  expect(dialogs, 'no dialog may open').toEqual([]);
});
