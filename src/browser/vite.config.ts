// Builds the Audit Logs page (src/browser) into dist/web, which the server
// serves at `/`. Everything is bundled: the page loads nothing from a CDN.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here("."),
  base: "/",
  publicDir: false,
  logLevel: "warn",
  build: {
    outDir: here("../../dist/web"),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    reportCompressedSize: false,
  },
});
