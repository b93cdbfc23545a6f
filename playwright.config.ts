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

// Specs whose assertions read a clock (the main thread never blocked 100 ms, an abort within 1 s, a
// failure within 10 s, a faulty run against a calm one): they run after the others, one at a time.
const TIMED = ['**/runtime.spec.ts', '**/faults.spec.ts'];

export default defineConfig({
  testDir: 'test/browser',
  testMatch: '**/*.spec.ts',
  timeout: 240_000,
  // Two files at a time, also on 2 cores: much of a spec's time is not Chromium's compute (npm
  // installs, bundler builds, dev servers starting, page loads, reloads, waits for a service worker).
  workers: 2,
  projects: [
    { name: 'chromium', testIgnore: TIMED },
    { name: 'timed', testMatch: TIMED, workers: 1, dependencies: ['chromium'] },
  ],
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
