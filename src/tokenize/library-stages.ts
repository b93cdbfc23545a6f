// Finds the stages of one type inside a tokenizer built by @huggingface/tokenizers, alone or in
// Sequences, by walking tokenizer.json's description beside the built objects: the built objects
// carry no type name, the description does, and a Sequence lists its stages in the same order in both.

/** Where a Sequence keeps its stages: in tokenizer.json (`config`) and in the built object (`built`). */
export interface SequenceLists {
  config: string;
  built: string;
}

/**
 * The built stages whose description in tokenizer.json has `type`, found through Sequences
 * (`lists` names their arrays), and only those that `fits` (the shape the caller was written against).
 */
export function stagesOfType<T>(stage: unknown, config: unknown, type: string, lists: SequenceLists, fits: (stage: object) => boolean): T[] {
  const c = config as Record<string, unknown> | null;
  const s = stage as Record<string, unknown> | null;
  if (!c || !s) return [];
  if (c.type === type) return fits(s) ? [s as T] : [];
  const inner = c[lists.config];
  const built = s[lists.built];
  if (c.type === 'Sequence' && Array.isArray(inner) && Array.isArray(built)) {
    return inner.flatMap((description, i) => stagesOfType<T>(built[i], description, type, lists, fits));
  }
  return [];
}
