// A tokenizer thread (Node worker_threads): builds the model's tokenizer from the objects the main
// thread parsed, then answers slices. Ids go back as one flat Int32Array plus offsets, transferred,
// so a slice of thousands of texts crosses the thread boundary without a copy.
import { parentPort, workerData } from 'node:worker_threads';
import { buildTokenizer, type Truncation } from '../tokenize/tokenizer.js';

interface Request { id: number; texts: string[]; maxTokens: number; truncation: Truncation }

const { json, config, location } = workerData as { json: Record<string, unknown>; config: Record<string, unknown>; location: string };
const tokenizer = buildTokenizer(json, config, location);

parentPort!.on('message', ({ id, texts, maxTokens, truncation }: Request) => {
  try {
    const { flat, offsets, truncated } = tokenizer.encodeFlat(texts, maxTokens, truncation);
    parentPort!.postMessage({ id, flat, offsets, truncated }, [flat.buffer, offsets.buffer]);
  } catch (error) {
    parentPort!.postMessage({ id, error: (error as Error).message });
  }
});
