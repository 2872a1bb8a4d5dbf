import type { Model } from '../../ir/model.js';
import type { CalibrationMode } from '../../runtime/blocks/trials.js';
import { analyzeDecoder } from '../analysis/analyze-decoder.js';
import type { LayerMap } from '../analysis/layer-map.js';

/**
 * Where block-wise calibration cuts a decoder: the residual stream entering the first recognized
 * layer, then the stream leaving every `layersPerSlice`-th layer. Empty when no layer is
 * recognized (the model then runs as one slice). The runtime cannot find layers itself (that is
 * the analysis' job), so the passes that measure hand it these names.
 */
export function residualBoundaries(model: Model, layersPerSlice = 1, map: LayerMap = analyzeDecoder(model)): string[] {
  const layers = map.layers;
  if (!layers.length) return [];
  const out = [layers[0]!.residualIn.name];
  layers.forEach((l, i) => {
    if ((i + 1) % layersPerSlice === 0 || i === layers.length - 1) out.push(l.residualOut.name);
  });
  return [...new Set(out)];
}

/** The cuts for a calibration mode: none for `whole`, the residual stream otherwise (the default, `blockwise`). */
export function sliceBoundaries(model: Model, mode: CalibrationMode | undefined, layersPerSlice = 1, map?: LayerMap): string[] {
  return mode === 'whole' ? [] : residualBoundaries(model, layersPerSlice, map);
}
