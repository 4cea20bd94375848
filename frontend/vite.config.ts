import { fileURLToPath, URL } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [react()],
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  // Django serves dist/ with whitenoise at "/", so assets are absolute from the root.
  base: '/',
  server: {
    port: 5173,
    proxy: {
      '/api': { target: process.env.VITE_DEV_API_PROXY ?? 'http://127.0.0.1:8000', changeOrigin: false },
      // OpenID Connect sign-in: to the provider and back through Django, on the dev server's origin.
      '/oidc': { target: process.env.VITE_DEV_API_PROXY ?? 'http://127.0.0.1:8000', changeOrigin: false },
    },
  },
  build: {
    outDir: 'dist',
    sourcemap: true,
    // Firebase alone is ~400 kB; it is loaded only when configured, so the warning is noise.
    chunkSizeWarningLimit: 1200,
  },
  test: {
    globals: true,
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    css: false,
    // Two shared cores on the build machine: one worker keeps the suite from starving others.
    pool: 'threads',
    poolOptions: { threads: { singleThread: true } },
    testTimeout: 15000,
  },
});
