/**
 * The big model of the crash-safety test: y = x + w0 + w1 + w2 + w3, each w a float tensor of
 * mb/4 MiB whose bytes are streamed from one reused buffer (so writing it holds no weight in
 * memory). Byte i of w_k is (i * 7 + k * 31) & 0xff, so any read-back can be checked.
 */
import { GraphBuilder } from '../../src/ir/builder.js';
import { DataType } from '../../src/ir/dtype.js';
import type { Model } from '../../src/ir/model.js';
import { Tensor } from '../../src/ir/tensor.js';

export const expectedByte = (k: number, i: number) => (i * 7 + k * 31) & 0xff;

export function bigModel(mb: number): Model {
  const bytesEach = (mb << 20) / 4;
  const n = bytesEach / 4;
  const b = new GraphBuilder();
  let acc = b.input('x', DataType.FLOAT, [n]);
  for (let k = 0; k < 4; k++) {
    const pattern = (length: number) => {
      const out = new Uint8Array(length);
      for (let i = 0; i < length; i++) out[i] = expectedByte(k, i);
      return out;
    };
    const w = Tensor.lazy(
      `w${k}`,
      DataType.FLOAT,
      [n],
      () => {
        throw new Error('the writer must stream big tensors, not compute them whole');
      },
      function* (chunkSize: number) {
        // Chunk j starts at byte `done` of the tensor: pattern[(done & 0xff) + i] is byte done + i
        // (the pattern repeats every 256 bytes, 7 being invertible mod 256).
        const size = Math.min(chunkSize, bytesEach);
        const base = pattern(size + 256);
        for (let done = 0; done < bytesEach; done += size) {
          const shift = done & 0xff;
          yield base.subarray(shift, shift + Math.min(size, bytesEach - done));
        }
      },
    );
    acc = b.op('Add', [acc, b.initTensor(w)]);
  }
  b.output(acc, 'y');
  return b.build({ producerName: 'crash-safety' });
}
