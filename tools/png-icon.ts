// The demo's PNG app icons (192, 512 and a maskable 512), drawn from the same shapes as
// demo/public/icon.svg and encoded as PNG with node:zlib: browsers need PNG icons to offer install.
import { crc32, deflateSync } from 'node:zlib';

const BLUE = [0x1f, 0x4e, 0x79];
const WHITE = [0xff, 0xff, 0xff];
const AMBER = [0xfb, 0xbf, 0x24];
/** The SVG's circles on its 64-unit canvas: centre x, centre y, radius, colour. */
const DOTS: [number, number, number, number[]][] = [[20, 22, 6, WHITE], [42, 18, 5, AMBER], [30, 42, 7, WHITE], [48, 44, 4, AMBER]];

/**
 * An icon `size` pixels square. 'any' has the SVG's rounded corners (transparent outside);
 * 'maskable' fills every pixel and keeps the dots inside the central 80% that masks never cut.
 */
export function iconPng(size: number, purpose: 'any' | 'maskable'): Uint8Array {
  const rgba = new Uint8Array(size * size * 4);
  const unit = size / 64;
  const inset = purpose === 'maskable' ? 0.1 * size : 0;
  const scale = purpose === 'maskable' ? 0.8 : 1;
  const radius = 12 * unit;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let color: number[] | null = BLUE;
      if (purpose === 'any') {
        const cx = Math.min(Math.max(x + 0.5, radius), size - radius);
        const cy = Math.min(Math.max(y + 0.5, radius), size - radius);
        if (Math.hypot(x + 0.5 - cx, y + 0.5 - cy) > radius) color = null;
      }
      for (const [dx, dy, r, c] of DOTS) {
        if (Math.hypot(x + 0.5 - (inset + dx * unit * scale), y + 0.5 - (inset + dy * unit * scale)) <= r * unit * scale) color = c;
      }
      if (color) rgba.set([...color, 255], (y * size + x) * 4);
    }
  }
  return encodePng(size, size, rgba);
}

/** PNG of 8-bit RGBA pixels: signature, IHDR, one IDAT (every row with filter 0), IEND. */
function encodePng(width: number, height: number, rgba: Uint8Array): Uint8Array {
  const rows = new Uint8Array(height * (width * 4 + 1));
  for (let y = 0; y < height; y++) rows.set(rgba.subarray(y * width * 4, (y + 1) * width * 4), y * (width * 4 + 1) + 1);
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, 6, 0, 0, 0], 8); // 8 bits, RGBA, deflate, no filter method extras, no interlace
  const chunks = [chunk('IHDR', header), chunk('IDAT', deflateSync(rows)), chunk('IEND', new Uint8Array(0))];
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ...chunks]);
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}
