// The settings a model declares in its sentence-transformers files, read as sentence-transformers
// reads them: pooling from the Pooling module's config (1_Pooling/config.json), normalisation
// from a Normalize module in modules.json, prompts from config_sentence_transformers.json.
import { ModelFileError } from '../base/errors.js';
import type { Pooling } from '../base/types.js';
import { parseModelJson, type ModelFiles } from './files.js';

/** What the model's files declare; a field is absent when no file says it. */
export interface DeclaredSettings {
  pooling?: { mode: Pooling; includePrompt: boolean; file: string };
  normalize?: { value: boolean; file: string };
  prompts?: { prompts: Record<string, string>; defaultPromptName: string | null; file: string };
  /** Optional files that could not be fetched (offline): their settings are the defaults. */
  unreachable: string[];
}

const POOLING_KEYS: [string, Pooling][] = [
  ['pooling_mode_cls_token', 'cls'],
  ['pooling_mode_mean_tokens', 'mean'],
  ['pooling_mode_max_tokens', 'max'],
  ['pooling_mode_lasttoken', 'lasttoken'],
];

/**
 * Reads a JSON file that a model may lack: null when it is not there, or when it cannot be fetched
 * at all (an offline app whose cache holds the model but not a file the model does not have).
 */
async function readOptionalJson(files: ModelFiles, name: string, unreachable: string[]): Promise<Record<string, unknown> | null> {
  let bytes: Uint8Array;
  try {
    bytes = await files.read(name, { optional: true });
  } catch (error) {
    if (error instanceof ModelFileError && error.notFound) return null;
    if (error instanceof ModelFileError && error.unreachable) {
      unreachable.push(name);
      return null;
    }
    throw error;
  }
  return parseModelJson(bytes, files, name);
}

interface ModuleEntry {
  idx?: number;
  name?: string;
  path?: string;
  type?: string;
}

/** Reads modules.json, the Pooling module's config, and config_sentence_transformers.json. */
export async function readDeclaredSettings(files: ModelFiles): Promise<DeclaredSettings> {
  const unreachable: string[] = [];
  const [modules, stConfig] = await Promise.all([readOptionalJson(files, 'modules.json', unreachable), readOptionalJson(files, 'config_sentence_transformers.json', unreachable)]);
  const declared: DeclaredSettings = { unreachable };
  let poolingPath = '1_Pooling';
  if (modules) {
    if (!Array.isArray(modules)) throw new ModelFileError('modules.json', files.location, 'is not a list of modules');
    const list = modules as ModuleEntry[];
    const pooling = list.find((m) => typeof m.type === 'string' && /\.Pooling$/.test(m.type));
    if (pooling?.path) poolingPath = pooling.path;
    // sentence-transformers normalises exactly when the pipeline has a Normalize module.
    declared.normalize = { value: list.some((m) => typeof m.type === 'string' && /\.Normalize$/.test(m.type)), file: 'modules.json' };
  }
  const poolingFile = `${poolingPath.replace(/\/+$/, '')}/config.json`;
  const poolingConfig = await readOptionalJson(files, poolingFile, unreachable);
  if (poolingConfig) {
    const modes = POOLING_KEYS.filter(([key]) => poolingConfig[key] === true).map(([, mode]) => mode);
    if (modes.length === 0) {
      throw new ModelFileError(poolingFile, files.location, `declares none of the pooling modes this library runs (${POOLING_KEYS.map(([k]) => k).join(', ')})`);
    }
    if (modes.length > 1) {
      throw new ModelFileError(poolingFile, files.location, `declares ${modes.length} pooling modes at once (${modes.join(', ')}); concatenated pooling is not supported`);
    }
    declared.pooling = { mode: modes[0]!, includePrompt: poolingConfig.include_prompt !== false, file: poolingFile };
  }
  if (stConfig) {
    const prompts = stConfig.prompts ?? {};
    if (typeof prompts !== 'object' || Array.isArray(prompts) || Object.values(prompts).some((p) => typeof p !== 'string')) {
      throw new ModelFileError('config_sentence_transformers.json', files.location, 'its "prompts" is not an object of strings');
    }
    const defaultPromptName = typeof stConfig.default_prompt_name === 'string' ? stConfig.default_prompt_name : null;
    if (defaultPromptName !== null && !(defaultPromptName in prompts)) {
      throw new ModelFileError('config_sentence_transformers.json', files.location, `default_prompt_name "${defaultPromptName}" is not one of its prompts (${Object.keys(prompts).join(', ') || 'none'})`);
    }
    declared.prompts = { prompts: prompts as Record<string, string>, defaultPromptName, file: 'config_sentence_transformers.json' };
  }
  return declared;
}
