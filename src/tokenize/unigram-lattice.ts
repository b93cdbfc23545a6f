// A faster Unigram segmentation (XLM-R, T5-style SentencePiece models) with exactly the results of
// @huggingface/tokenizers' own. Its Metaspace pre-tokenizer hands Unigram each whole text, and its
// lattice spent most of a multilingual tokenizer's time on allocation: a generator per position
// building every prefix as a new string and looking it up in a Map, a node object per candidate,
// and a copy of a node for every comparison in the Viterbi pass (profile of fixture-xlmr:
// common_prefix_search 30 %, the garbage collector 10 %, populate_nodes 9 %, viterbi 9 %).
//
// This walks the model's own character trie (the token id stored on each leaf once), keeps the
// lattice in typed arrays, and runs the same Viterbi pass: the same candidates at each position in
// the same order, the same float64 sums in the same order, the same first-best rule on ties. So
// the pieces are the same by construction, not just on the texts tested (@huggingface/tokenizers
// is pinned to the version whose code this was read against).

/** A node of @huggingface/tokenizers' CharTrie: children by character (a code point as a string). */
interface TrieNode {
  is_leaf: boolean;
  children: Map<string, TrieNode>;
}

/** What the lattice needs of a Unigram model, as @huggingface/tokenizers 0.2.0 builds it. */
interface UnigramModel {
  vocab: string[];
  scores: number[];
  tokens_to_ids: Map<string, number>;
  unk_token_id: number;
  unk_score: number;
  trie: { root: TrieNode };
  tokenize(normalized: string): string[];
}

function isUnigramModel(model: unknown): model is UnigramModel {
  const m = model as Partial<UnigramModel> | null;
  return !!m && Array.isArray(m.vocab) && Array.isArray(m.scores) && m.tokens_to_ids instanceof Map &&
    typeof m.unk_token_id === 'number' && typeof m.unk_score === 'number' && typeof m.tokenize === 'function' &&
    m.trie?.root?.children instanceof Map;
}

/**
 * The token id each leaf stands for: what the library's `tokens_to_ids.get(prefix)` gives when the
 * search reaches it. Read from `tokens_to_ids` as the built tokenizer holds it, not from `vocab`:
 * the tokenizer's added tokens overwrite entries of `vocab` (and can leave holes in it) and set
 * their own ids in `tokens_to_ids`, while the trie keeps the vocabulary it was built from. Every
 * trie string is a key there (the map was built from the same vocabulary and loses no key).
 */
function leafIds(model: UnigramModel): Map<TrieNode, number> {
  const ids = new Map<TrieNode, number>();
  for (const [token, id] of model.tokens_to_ids) {
    if (token.length === 0) continue;
    let node: TrieNode | undefined = model.trie.root;
    for (const ch of token) {
      node = node.children.get(ch);
      if (node === undefined) break;
    }
    if (node?.is_leaf) ids.set(node, id);
  }
  return ids;
}

/** Growable typed arrays for one text's lattice, reused from text to text. */
class Lattice {
  begin = new Int32Array(1024);
  length = new Int32Array(1024);
  tokenId = new Int32Array(1024);
  score = new Float64Array(1024);
  backtrace = new Float64Array(1024);
  prev = new Int32Array(1024);
  /** Nodes ending at each position, as a linked list in insertion order: head, tail, next. */
  endHead = new Int32Array(256);
  endTail = new Int32Array(256);
  endNext = new Int32Array(1024);
  count = 0;

  reset(positions: number): void {
    if (this.endHead.length < positions + 1) {
      const size = Math.max(positions + 1, this.endHead.length * 2);
      this.endHead = new Int32Array(size);
      this.endTail = new Int32Array(size);
    }
    this.endHead.fill(-1, 0, positions + 1);
    this.endTail.fill(-1, 0, positions + 1);
    this.count = 0;
  }

  insert(begin: number, length: number, score: number, tokenId: number): void {
    if (this.count === this.begin.length) this.grow();
    const n = this.count++;
    this.begin[n] = begin;
    this.length[n] = length;
    this.score[n] = score;
    this.tokenId[n] = tokenId;
    this.endNext[n] = -1;
    const end = begin + length;
    if (this.endTail[end] === -1) this.endHead[end] = n;
    else this.endNext[this.endTail[end]!] = n;
    this.endTail[end] = n;
  }

  private grow(): void {
    const size = this.begin.length * 2;
    const more = <T extends Int32Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(size);
      b.set(a);
      return b;
    };
    this.begin = more(this.begin);
    this.length = more(this.length);
    this.tokenId = more(this.tokenId);
    this.score = more(this.score);
    this.backtrace = more(this.backtrace);
    this.prev = more(this.prev);
    this.endNext = more(this.endNext);
  }
}

/** Marks a node index as the lattice's begin-of-sentence node (backtrace score 0, no predecessor). */
const BOS = -2;

/**
 * The pieces of `normalized` (one pre-tokenized word, here a whole text), as the model's own
 * `tokenize` gives them: its lattice populated from each position in order (every vocabulary piece
 * that starts there, shortest first, then the unknown piece if no one-character piece matched),
 * then Viterbi from left to right, keeping for each node the first predecessor with the strictly
 * best score.
 */
function segment(model: UnigramModel, ids: Map<TrieNode, number>, lattice: Lattice, normalized: string): string[] {
  const chars = Array.from(normalized);
  const len = chars.length;
  lattice.reset(len);
  const root = model.trie.root;
  for (let pos = 0; pos < len; pos++) {
    let single = false;
    let node: TrieNode | undefined = root;
    for (let i = pos; i < len; i++) {
      node = node.children.get(chars[i]!);
      if (node === undefined) break;
      if (node.is_leaf) {
        const id = ids.get(node)!;
        const length = i - pos + 1;
        lattice.insert(pos, length, model.scores[id]!, id);
        if (length === 1) single = true;
      }
    }
    if (!single) lattice.insert(pos, 1, model.unk_score, model.unk_token_id);
  }
  // Viterbi: nodes are stored in order of their begin position, so a node's predecessors (the
  // nodes ending where it begins) are final when it is reached. Position 0's only predecessor is
  // the begin-of-sentence node; the end-of-sentence node's are those ending at `len`.
  const { begin, score, backtrace, prev, endHead, endNext } = lattice;
  for (let n = 0; n < lattice.count; n++) {
    const at = begin[n]!;
    if (at === 0) {
      backtrace[n] = 0 + score[n]!;
      prev[n] = BOS;
      continue;
    }
    let best = -1;
    let bestScore = 0;
    for (let l = endHead[at]!; l !== -1; l = endNext[l]!) {
      const s = backtrace[l]! + score[n]!;
      if (best === -1 || s > bestScore) {
        best = l;
        bestScore = s;
      }
    }
    prev[n] = best;
    backtrace[n] = bestScore;
  }
  let last = -1;
  let lastScore = 0;
  for (let l = endHead[len]!; l !== -1; l = endNext[l]!) {
    const s = backtrace[l]! + 0;
    if (last === -1 || s > lastScore) {
      last = l;
      lastScore = s;
    }
  }
  const pieces: string[] = [];
  for (let n = last; n >= 0; n = prev[n]!) pieces.push(chars.slice(begin[n]!, begin[n]! + lattice.length[n]!).join(''));
  return pieces.reverse();
}

/**
 * Replaces the Unigram model's `tokenize` of `tokenizer` (@huggingface/tokenizers) with the typed
 * lattice above; returns whether it did. Another model, or a model without the fields it reads (a
 * later @huggingface/tokenizers), is left as it is.
 */
export function fastUnigram(tokenizer: unknown, modelType: unknown): boolean {
  const model = (tokenizer as { model?: unknown } | null)?.model;
  if (modelType !== 'Unigram' || !isUnigramModel(model)) return false;
  const ids = leafIds(model);
  const lattice = new Lattice();
  model.tokenize = (normalized: string) => segment(model, ids, lattice, normalized);
  return true;
}
