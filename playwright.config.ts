// Browser tests in Debian's headless Chromium (never a downloaded browser). WebGPU runs on
// SwiftShader (a CPU Vulkan), which is enough to test the WebGPU path for correctness.
import { defineConfig } from '@playwright/test';

// Ports of the two servers; override both (APP_PORT, DEMO_PORT) to run beside another checkout's tests.
const APP_PORT = Number(process.env.APP_PORT ?? 4173);
const DEMO_PORT = Number(process.env.DEMO_PORT ?? 5173);
process.env.DEMO_URL ??= `http://127.0.0.1:${DEMO_PORT}/`;

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
    baseURL: `http://127.0.0.1:${APP_PORT}`,
    headless: true,
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS },
  },
  webServer: [
    {
      command: 'npx vite build -c test/browser/app/vite.config.ts && npx vite preview -c test/browser/app/vite.config.ts',
      url: `http://127.0.0.1:${APP_PORT}/`,
      reuseExistingServer: !process.env.CI,
      timeout: 180_000,
    },
    {
      // The demo app, built with its service worker (vite.config.ts).
      command: 'npx vite build && npx vite preview',
      url: `http://127.0.0.1:${DEMO_PORT}/`,
      reuseExistingServer: !process.env.CI,
      timeout: 180_000,
    },
  ],
});
