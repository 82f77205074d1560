import { expect } from '@playwright/test';
import { ready, test } from './helpers';

// `chartgate demo` prints one account per role with a fresh password; scripts/e2e.sh passes those
// lines on as CHARTGATE_DEMO_ACCOUNTS ("ROLE EMAIL password: PASSWORD" each). A newcomer signs in
// with them, exactly as printed.
interface Account {
  role: string;
  email: string;
  password: string;
}

function demoAccounts(): Account[] {
  return (process.env.CHARTGATE_DEMO_ACCOUNTS ?? '')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((parts) => parts.length === 4 && parts[2] === 'password:')
    .map(([role, email, , password]) => ({ role, email, password }));
}

test.describe('the demo accounts', () => {
  test.use({ storageState: { cookies: [], origins: [] } });

  for (const role of ['lead', 'reviewer', 'viewer']) {
    test(`the demo ${role} signs in with the printed password`, async ({ page }, testInfo) => {
      const account = demoAccounts().find((a) => a.role === role);
      expect(account, 'CHARTGATE_DEMO_ACCOUNTS lists the accounts `chartgate demo` printed').toBeTruthy();
      await page.goto('/login');
      await ready(page, testInfo);
      await page.locator('input[name=email]').fill(account!.email);
      await page.locator('input[name=password]').fill(account!.password);
      await page.locator('form[action="/auth/login"] button[type=submit]').click();
      await expect(page).not.toHaveURL(/\/login/);
      await expect(page.locator('body')).toContainText(`${account!.email} · ${role}`);
      await expect(page.locator('[data-testid=branch-row]').first()).toBeVisible();
    });
  }
});
