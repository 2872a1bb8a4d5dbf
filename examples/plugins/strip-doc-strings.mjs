// An onnx-opt plugin: the default export returns pass definitions made with definePass.
// Use it with: onnx-opt model.onnx -o out.onnx --plugin ./examples/plugins/strip-doc-strings.mjs --passes=strip-doc-strings
import { definePass } from 'onnx-opt';

export default function plugin() {
  return [
    definePass({
      name: 'strip-doc-strings',
      summary: 'remove doc strings from nodes (smaller files, no semantic change)',
      options: {
        'keep-graph': { type: 'bool', default: true, description: "keep the graph's own doc string" },
      },
      run(model, ctx, options) {
        let removed = 0;
        for (const node of model.graph.allNodes()) {
          if (node.docString) {
            node.docString = '';
            removed++;
          }
        }
        if (!options['keep-graph'] && model.graph.docString) {
          model.graph.docString = '';
          removed++;
        }
        ctx.log(`removed ${removed} doc strings`);
        return { modified: removed > 0, stats: { 'doc strings removed': removed } };
      },
    }),
  ];
}
