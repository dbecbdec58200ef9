import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The Go server (archscope serve) listens here during development.
const backend = 'http://127.0.0.1:7777';

export default defineConfig({
  // Relative asset URLs: the same bundle is served from http://host/ and from
  // wails://wails/ in the desktop window.
  base: './',
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  build: {
    outDir: 'dist',
    // dist/.keep is recreated by the build script; emptying the dir is fine.
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
  },
  server: {
    host: '127.0.0.1',
    proxy: {
      '/api': backend,
      '/demo': backend,
      '/ws': { target: backend.replace('http', 'ws'), ws: true },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    benchmark: { include: ['src/**/*.bench.ts'] },
    environment: 'node',
  },
});
