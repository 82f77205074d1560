import { expect } from '@playwright/test';
import { ready, test } from './helpers';

test.describe('anonymous visitors', () => {
  test.use({ storageState: { cookies: [], origins: [] } });

  test('are sent to the sign-in page, which keeps where they were going', async ({ page }, testInfo) => {
    await page.goto('/branches/feature-energy-update?kind=new');
    await expect(page).toHaveURL(/\/login\?next=/);
    await ready(page, testInfo);
    await expect(page.locator('h1')).toContainText('Sign in');
    await expect(page.locator('input[name=next]')).toHaveValue('/branches/feature-energy-update?kind=new');
  });

  test('see an error for a wrong password', async ({ page }, testInfo) => {
    await page.goto('/login');
    await ready(page, testInfo);
    await page.locator('input[name=email]').fill(`nobody-${testInfo.project.name}@example.com`);
    await page.locator('input[name=password]').fill('not the password');
    await page.locator('form[action="/auth/login"] button[type=submit]').click();
    await expect(page).toHaveURL(/\/login\?error=invalid/);
    await expect(page.locator('[data-testid=login-error]')).toBeVisible();
  });
});
