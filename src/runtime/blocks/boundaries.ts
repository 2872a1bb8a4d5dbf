import type { Model } from '../../ir/model.js';
import { analyzeDecoder } from '../../passes/analysis/analyze-decoder.js';

/**
 * Where block-wise calibration cuts a decoder: the residual stream entering the first recognized
 * layer, then the stream leaving every `layersPerSlice`-th layer. Empty when no layer is
 * recognized (the model then runs as one slice).
 */
export function residualBoundaries(model: Model, layersPerSlice = 1): string[] {
  const layers = analyzeDecoder(model).layers;
  if (!layers.length) return [];
  const out = [layers[0]!.residualIn.name];
  layers.forEach((l, i) => {
    if ((i + 1) % layersPerSlice === 0 || i === layers.length - 1) out.push(l.residualOut.name);
  });
  return [...new Set(out)];
}
