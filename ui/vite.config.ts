import { resolve } from "node:path";
import { defineConfig } from "vite";

// Two windows, two pages; everything bundled, nothing fetched at run time.
export default defineConfig({
  clearScreen: false,
  build: {
    target: "safari16",
    outDir: "dist",
    emptyOutDir: true,
    rollupOptions: {
      input: {
        main: resolve(import.meta.dirname, "index.html"),
        quick: resolve(import.meta.dirname, "quick.html"),
      },
    },
  },
});
