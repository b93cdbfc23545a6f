// The page's side of the text extraction worker (extract-worker.ts): started on first use, one
// request at a time per file, answers matched by id.
import type { ExtractReply } from './extract-worker.js';

/** Files whose text comes from the extraction worker. */
export const EXTRACTED = /\.(pdf|docx)$/i;

let worker: Worker | null = null;
let nextId = 0;
const waiting = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();

/** The text of a PDF or DOCX file, as paragraphs separated by blank lines. */
export function extractText(file: File): Promise<string> {
  if (!worker) {
    worker = new Worker(new URL('./extract-worker.ts', import.meta.url), { type: 'module', name: 'bulk-embed-extract' });
    worker.addEventListener('message', (event: MessageEvent<ExtractReply>) => {
      const pending = waiting.get(event.data.id);
      waiting.delete(event.data.id);
      if ('error' in event.data) pending?.reject(new Error(event.data.error));
      else pending?.resolve(event.data.text);
    });
    worker.addEventListener('error', (event) => {
      for (const pending of waiting.values()) pending.reject(new Error(event.message || 'the text extraction worker failed'));
      waiting.clear();
      worker = null;
    });
  }
  const id = nextId++;
  const w = worker;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    void file.arrayBuffer().then((bytes) => w.postMessage({ id, name: file.name, bytes }, [bytes]), reject);
  });
}
