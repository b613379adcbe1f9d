// Built for Django: the manifest lets annotator/frontend.py find the hashed entry, and every asset URL
// starts with /static/ because WhiteNoise serves frontend/dist there (settings.STATICFILES_DIRS).
import { defineConfig } from "vitest/config";

export default defineConfig({
  base: "/static/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    manifest: true,
    sourcemap: true,
    target: "es2022",
    rolldownOptions: {
      input: { main: "src/main.ts" },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
