/// <reference types="vite-plugin-pwa/client" />
/** pdf.js's worker module, imported to run pdf.js in the demo's own extraction worker; its types are not published. */
declare module 'pdfjs-dist/build/pdf.worker.mjs' {
  export const WorkerMessageHandler: unknown;
}
