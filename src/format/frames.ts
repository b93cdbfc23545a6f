// The frames of an Arrow IPC stream: each message is 0xFFFFFFFF, an int32 metadata length, a
// flatbuffer Message and a body of Message.bodyLength bytes; an end-of-stream marker (the prefix
// with length 0) may close the stream. One walk holds the rules (what a whole message is, where a
// truncated or corrupt one starts) and two drivers feed it bytes: `readFrames` over a
// RandomAccessFile (positional reads, one message's metadata in memory at a time; the store's
// readers, resume and search use it) and `walkMessages` over bytes already in memory.
import { checkMessageBounds, HEADER_RECORD_BATCH, HEADER_SCHEMA, readMessageHeader } from './message.js';
import { readExactly, type RandomAccessFile } from './random-access.js';

const CONTINUATION = 0xffffffff;
/** End-of-stream marker: continuation + zero length. */
export const EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/** One framed IPC message: its first byte, the byte after it, and what it holds. */
export interface Frame {
  start: number;
  end: number;
  kind: 'schema' | 'batch' | 'other';
}

/** A frame as the walk read it: also its metadata (the flatbuffer after the 8-byte prefix) and where its body lies. */
export interface MessageFrame extends Frame {
  meta: Uint8Array;
  bodyStart: number;
  bodyLength: number;
}

/** Where a walk ended. */
export interface WalkEnd {
  /** Bytes up to the end of the last whole message (once the consumer has moved past it). */
  validEnd: number;
  /** An end-of-stream marker closes the stream. */
  closed: boolean;
  /** Why the walk stopped early: truncated or corrupt, with the byte offset. */
  problem?: string;
}

/** Result of walking a stream's bytes. */
export interface Walk extends WalkEnd {
  frames: Frame[];
}

type Prefix = { eos: true } | { eos: false; metaLength: number } | { problem: string };

/** Checks the prefix of the message at `at` (`head` holds its first 8 bytes, or fewer at the end). */
function readPrefix(head: DataView, at: number, size: number): Prefix {
  if (size - at < 8) return { problem: `truncated at byte ${at}: ${size - at} bytes of a message header` };
  if (head.getUint32(0, true) !== CONTINUATION) return { problem: `corrupt at byte ${at}: no IPC message starts here` };
  const metaLength = head.getInt32(4, true);
  if (metaLength === 0) return { eos: true };
  if (metaLength < 0 || metaLength % 8 !== 0) return { problem: `corrupt at byte ${at}: bad metadata length ${metaLength}` };
  if (at + 8 + metaLength > size) return { problem: `truncated at byte ${at}: the message header needs ${metaLength} bytes, ${size - at - 8} remain` };
  return { eos: false, metaLength };
}

/** Checks the metadata of the message at `at` (`meta` views its metaLength bytes): its kind and body, or a problem. */
function readMeta(meta: DataView, at: number, size: number): { kind: Frame['kind']; bodyLength: number; end: number } | { problem: string } {
  const header = readMessageHeader(meta, 0, meta.byteLength);
  if (!header) return { problem: `corrupt at byte ${at}: unreadable message metadata` };
  const outside = checkMessageBounds(meta);
  if (outside) return { problem: `corrupt at byte ${at}: ${outside}` };
  const end = at + 8 + meta.byteLength + header.bodyLength;
  if (end > size) return { problem: `truncated at byte ${at}: a message of ${end - at} bytes, ${size - at} remain` };
  const kind = header.type === HEADER_SCHEMA ? 'schema' : header.type === HEADER_RECORD_BATCH ? 'batch' : 'other';
  return { kind, bodyLength: header.bodyLength, end };
}

const viewOf = (bytes: Uint8Array, length = bytes.byteLength) => new DataView(bytes.buffer, bytes.byteOffset, Math.min(length, bytes.byteLength));

/** A walk's request for bytes (the driver answers with them), or a frame it found. */
type Step = { read: [at: number, length: number] } | { frame: MessageFrame };

/** Metadata bytes read with a message's prefix; then the last message's metadata length (a file's batch headers are alike). */
const FIRST_GUESS = 512;

/**
 * The walk, free of I/O: asks for the bytes it needs and yields each whole message's frame; stops
 * at the end-of-stream marker, at `size`, or at the first truncated or malformed message, leaving
 * `end` set. Reads the prefix and (usually) the metadata of a message together.
 */
function* walk(size: number, from: number, end: WalkEnd): Generator<Step, void, Uint8Array | undefined> {
  let at = from;
  let guess = FIRST_GUESS;
  while (at < size) {
    const head = (yield { read: [at, Math.min(8 + guess, size - at)] })!;
    const prefix = readPrefix(viewOf(head, 8), at, size);
    if ('problem' in prefix) return void (end.problem = prefix.problem);
    if (prefix.eos) {
      end.validEnd = at + 8;
      end.closed = true;
      return;
    }
    guess = prefix.metaLength;
    const meta = head.byteLength >= 8 + prefix.metaLength ? head.subarray(8, 8 + prefix.metaLength) : (yield { read: [at + 8, prefix.metaLength] })!;
    const found = readMeta(viewOf(meta), at, size);
    if ('problem' in found) return void (end.problem = found.problem);
    yield { frame: { start: at, end: found.end, kind: found.kind, meta, bodyStart: at + 8 + prefix.metaLength, bodyLength: found.bodyLength } };
    at = found.end;
    end.validEnd = at;
  }
}

/**
 * Yields a file's message frames one at a time (positional reads; the bodies are left for the
 * caller to read). `end` says where the walk stopped and why; `validEnd` moves past a frame only
 * when the caller asks for the next one, so a caller that stops at a frame it refuses leaves
 * `validEnd` at that frame's start.
 */
export async function* readFrames(file: Pick<RandomAccessFile, 'name' | 'size' | 'read'>, end: WalkEnd = { validEnd: 0, closed: false }): AsyncGenerator<MessageFrame, void, undefined> {
  const steps = walk(await file.size(), end.validEnd, end);
  let answer: Uint8Array | undefined;
  for (let step = steps.next(); !step.done; step = steps.next(answer)) {
    if ('read' in step.value) {
      answer = await readExactly(file, ...step.value.read);
    } else {
      yield step.value.frame;
      answer = undefined;
    }
  }
}

/** The same walk over bytes in memory: every whole message's frame, and where and why it stopped. */
export function walkMessages(bytes: Uint8Array, offset = 0): Walk {
  const result: Walk = { frames: [], validEnd: offset, closed: false };
  const steps = walk(bytes.length, offset, result);
  let answer: Uint8Array | undefined;
  for (let step = steps.next(); !step.done; step = steps.next(answer)) {
    if ('read' in step.value) {
      const [at, length] = step.value.read;
      answer = bytes.subarray(at, at + length);
    } else {
      const { start, end, kind } = step.value.frame;
      result.frames.push({ start, end, kind });
      answer = undefined;
    }
  }
  return result;
}
