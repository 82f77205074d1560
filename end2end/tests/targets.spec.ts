import { expect } from '@playwright/test';
import * as path from 'node:path';
import { apiHeaders, BRANCH, ready, SCREENSHOTS, test } from './helpers';

// scripts/e2e.sh configures a chain (design §10): production, and staging promoted to production
// on releases. The demo's branches are checked against production.

test('the branches page shows the chain: each target with its environments and branches', async ({ page, request }, testInfo) => {
  // A branch of staging, registered through the API (one per browser project).
  const branch = `feature/chain-${testInfo.project.name}`;
  const envName = branch.replace(/[^A-Za-z0-9]/g, '-');
  const created = await request.post('/api/v1/branches', {
    headers: apiHeaders(),
    data: { branch, fork: true, target: 'staging' },
  });
  expect([201, 409], await created.text()).toContain(created.status());

  const targets = await request.get('/api/v1/targets', { headers: apiHeaders() });
  expect(targets.status()).toBe(200);
  const chain = (await targets.json()) as { name: string; promotes_to: string | null; promote_on: string }[];
  expect(chain.map((t) => t.name)).toEqual(['production', 'staging']);
  expect(chain[1]).toMatchObject({ promotes_to: 'production', promote_on: 'release' });

  await page.goto('/');
  await ready(page, testInfo);
  const production = page.locator('[data-testid=target][data-target=production]');
  const staging = page.locator('[data-testid=target][data-target=staging]');
  await expect(production.locator('h2')).toContainText('production');
  await expect(staging.locator('h2')).toContainText('staging → production');
  await expect(staging).toContainText('promoted to production when a release is published');

  // Production's section holds the demo's branches and the staging environment; staging's holds
  // the branch registered against it.
  await expect(production.locator('[data-testid=branch-row]').filter({ hasText: BRANCH })).toHaveCount(1);
  const environment = production.locator('[data-testid=branch-row][data-kind=target]');
  await expect(environment).toHaveCount(1);
  await expect(environment).toContainText('staging');
  await expect(environment).toContainText('environment');
  await expect(staging.locator('[data-testid=branch-row]').filter({ hasText: envName })).toHaveCount(1);
  // Times read as the rest of the app writes them, not raw RFC 3339.
  await expect(production.locator('[data-testid=branch-row]').filter({ hasText: BRANCH })).toContainText(
    /\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/,
  );

  const suffix = testInfo.project.name === 'js' ? '' : `-${testInfo.project.name}`;
  await page.screenshot({ path: path.join(SCREENSHOTS, `branches-chain${suffix}.png`), fullPage: true });

  // A branch's page names its hop.
  await staging.locator(`a[href$="/branches/${envName}"]`).first().click();
  await ready(page, testInfo);
  await expect(page.locator('[data-testid=hop]')).toHaveText(`${envName} → staging`);
});
