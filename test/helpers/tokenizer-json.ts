// A fixture's tokenizer.json and tokenizer_config.json, parsed, for tests that build tokenizers directly.
import { nodeFileAccess } from '../../src/node.js';
import { readModelJson, resolveModelFiles } from '../../src/model/files.js';
import { modelDir } from './models.js';

/** The parsed tokenizer.json (`json`) and tokenizer_config.json (`config`) of fixture `name`. */
export async function tokenizerJsonOf(name: string): Promise<{ json: Record<string, unknown>; config: Record<string, unknown> }> {
  const files = await resolveModelFiles(modelDir(name), nodeFileAccess);
  return { json: await readModelJson(files, 'tokenizer.json'), config: await readModelJson(files, 'tokenizer_config.json') };
}
