// What the browser consumer specs share: Node's vectors for their texts (the reference the apps
// must match), and opening an app that signals it is ready through its title.
import { join } from 'node:path';
import { expect, type Page } from '@playwright/test';
import { createEmbedder } from '../../src/node.js';
import { ROOT } from '../../tools/consumer-project.js';

/** Node's fixture-tiny vectors for `texts`, computed on first call and kept. */
export function nodeReference(texts: readonly string[]): () => Promise<{ dim: number; data: Float32Array }> {
  let reference: Promise<{ dim: number; data: Float32Array }> | null = null;
  return () => (reference ??= (async () => {
    const e = await createEmbedder({ model: join(ROOT, 'models/fixture-tiny') });
    try {
      return await e.embed([...texts]);
    } finally {
      await e.dispose();
    }
  })());
}

/** Opens the app at `base`; resolves, once its title says ready, with its console lines and page errors. */
export async function openApp(page: Page, base: string, timeout: number): Promise<string[]> {
  const lines: string[] = [];
  page.on('console', (m) => lines.push(m.text()));
  page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`));
  await page.goto(`${base}/`);
  await expect(page).toHaveTitle('ready', { timeout });
  return lines;
}
