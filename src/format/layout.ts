// Where a column's data lies in a record batch: the IPC format lays each column out as one field
// node and its buffers (validity, then offsets and values as its type has them), depth first, in
// schema order. The batch header lists the nodes and the buffers' regions in that order; these
// functions say which of them belong to a column, so a reader can fetch one column's bytes alone.
import type { DataType, Schema } from 'apache-arrow';
import type { BatchHeader } from './message.js';

type Typed = Pick<DataType, 'typeId'> & { children?: { type: unknown }[] | null };

const isFixedSizeList = (type: Typed) => String(type).startsWith('FixedSizeList');

/** Buffers each Arrow type takes in a record batch body, in the order the IPC format lays them out. */
export function bufferCount(type: Typed): number {
  const name = String(type);
  if (name === 'Utf8') return 3;
  if (isFixedSizeList(type)) return 1 + bufferCount(type.children![0]!.type as Typed);
  return 2;
}

/** Field nodes a type takes: one, and its list child's. */
export function nodeCount(type: Typed): number {
  return isFixedSizeList(type) ? 1 + nodeCount(type.children![0]!.type as Typed) : 1;
}

/** One top-level column's place among a batch's nodes and buffers. */
export interface ColumnPlace {
  name: string;
  type: DataType;
  /** Index of its first node and first buffer, and how many buffers it has. */
  node: number;
  buffer: number;
  buffers: number;
}

/** Every top-level column's place, in schema order. */
export function columnPlaces(schema: Schema): ColumnPlace[] {
  let node = 0;
  let buffer = 0;
  return schema.fields.map((field) => {
    const type = field.type as DataType;
    const place = { name: field.name, type, node, buffer, buffers: bufferCount(type as Typed) };
    node += nodeCount(type as Typed);
    buffer += place.buffers;
    return place;
  });
}

/** Index of a FixedSizeList column's value buffer (its child's data) among the batch's buffers; -1 when there is no such column. */
export function valueBufferIndex(schema: Schema, name: string): number {
  const place = columnPlaces(schema).find((c) => c.name === name);
  return place ? place.buffer + 2 : -1; // the list's validity, its child's validity, then the child's values
}

/** A buffer region of `header`, when it lies inside a body of `bodyLength` bytes (else undefined: the header is corrupt). */
export function bufferIn(header: BatchHeader, index: number, bodyLength: number): { offset: number; length: number } | undefined {
  const region = header.buffers[index];
  return region && region.offset >= 0 && region.length >= 0 && region.offset + region.length <= bodyLength ? region : undefined;
}
