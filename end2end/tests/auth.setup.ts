import { expect, test as setup } from '@playwright/test';
import { AUTH_FILE, ready } from './helpers';

// Signs in through the real form once per run; scripts/e2e.sh creates the user and its password.
setup('sign in as the e2e lead', async ({ page }, testInfo) => {
  const email = process.env.CHARTGATE_E2E_EMAIL ?? 'e2e@example.com';
  const password = process.env.CHARTGATE_E2E_PASSWORD;
  expect(password, 'CHARTGATE_E2E_PASSWORD must be set (scripts/e2e.sh sets it)').toBeTruthy();

  await page.goto('/login');
  await ready(page, testInfo);
  await page.locator('input[name=email]').fill(email);
  await page.locator('input[name=password]').fill(password!);
  await page.locator('form[action="/auth/login"] button[type=submit]').click();

  await expect(page).not.toHaveURL(/\/login/);
  await expect(page.locator('[data-testid=branch-row]').first()).toBeVisible();
  await page.context().storageState({ path: AUTH_FILE });
});
