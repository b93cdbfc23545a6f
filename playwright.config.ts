// Browser tests in Debian's headless Chromium (never a downloaded browser). WebGPU runs on
// SwiftShader (a CPU Vulkan), which is enough to test the WebGPU path for correctness.
import { defineConfig } from '@playwright/test';

export const CHROMIUM_ARGS = [
  '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--enable-unsafe-webgpu', '--enable-features=Vulkan',
];

export default defineConfig({
  testDir: 'test/browser',
  testMatch: '**/*.spec.ts',
  timeout: 240_000,
  workers: 1,
  reporter: [['list']],
  outputDir: 'test-results/playwright',
  use: {
    baseURL: 'http://127.0.0.1:4173',
    headless: true,
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS },
  },
  webServer: [
    {
      command: 'npx vite build -c test/browser/app/vite.config.ts && npx vite preview -c test/browser/app/vite.config.ts',
      url: 'http://127.0.0.1:4173/',
      reuseExistingServer: !process.env.CI,
      timeout: 180_000,
    },
    {
      // The demo app, built with its service worker (vite.config.ts).
      command: 'npx vite build && npx vite preview',
      url: 'http://127.0.0.1:5173/',
      reuseExistingServer: !process.env.CI,
      timeout: 180_000,
    },
  ],
});
