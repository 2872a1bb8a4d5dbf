import { describe, expect, it } from 'vitest';
import { renderExploreHtml, shortLabel } from '../../src/report/explore-html.js';
import { sampleExplore } from './explore-fixture.js';

describe('the explorer HTML page', () => {
  it('draws one labelled point per configuration, the frontier line, and the recommended pipeline', () => {
    const d = sampleExplore();
    const html = renderExploreHtml(d);
    expect(html.match(/<g class="config-point"/g)).toHaveLength(5);
    expect(html.match(/data-frontier="true"/g)).toHaveLength(4);
    expect(html.match(/<text class="point-label"/g)).toHaveLength(5);
    expect(html).toContain('class="frontier-line"');
    expect(html).toContain('class="max-kl"');
    expect(html).toContain('<code>attn-prune{layers=[6,7]}</code>');
    // Paths and pipelines are escaped.
    expect(html).toContain('&lt;tiny&gt;.onnx');
    expect(html).not.toContain('<tiny>');
    expect(html).not.toMatch(/<script|https?:\/\//);
  });

  it('labels points by what they remove and fuse', () => {
    const [orig, , , fused] = sampleExplore().configs;
    expect(shortLabel(orig!)).toBe('original');
    expect(shortLabel(fused!)).toBe('−attn 6,7 · fuse 5–7');
  });
});
