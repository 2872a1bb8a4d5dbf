#!/usr/bin/env node
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { OnnxOptError } from '../errors.js';
import { registerBuiltinPasses } from '../passes/builtin.js';
import { loadPlugin } from '../passes/plugins.js';
import { defaultRegistry } from '../passes/registry.js';
import { demoCommand } from './commands/demo.js';
import { inspectCommand } from './commands/inspect.js';
import { readConfigFile } from './config-file.js';
import { goldenCheckCommand, goldenMakeCommand } from './commands/golden.js';
import { exploreCommand } from './commands/explore.js';
import { verifyCommand } from './commands/verify.js';
import { calibrationArgs, withCalibrationOptions } from './calibration-args.js';
import { formatPassList } from './commands/list-passes.js';
import { optimizeCommand } from './commands/optimize.js';
import { EXIT_USAGE, reportError } from './exit.js';
import { installInterruptHandlers } from './interrupts.js';

/** Runs the CLI on `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  try {
    registerBuiltinPasses();
    // Plugins register passes before the pipeline is parsed, so --plugin must be read first.
    const plugins = pluginArgs(argv);
    for (const p of plugins) await loadPlugin(p);
    let code = 0;
    const cli = buildCli(yargs(argv), (c) => (code = c), plugins);
    await cli.parseAsync();
    return code;
  } catch (e) {
    return reportError(e, debug);
  }
}

/** The --plugin values, read before yargs; after `--` every argument is a positional, never an option. */
function pluginArgs(argv: string[]): string[] {
  const out: string[] = [];
  const end = argv.indexOf('--');
  const options = end < 0 ? argv : argv.slice(0, end);
  options.forEach((a, i) => {
    if (a === '--plugin' && options[i + 1]) out.push(options[i + 1]!);
    else if (a.startsWith('--plugin=')) {
      const spec = a.slice('--plugin='.length);
      if (!spec) throw new OnnxOptError('USAGE', '--plugin= needs a module path or package name');
      out.push(spec);
    }
  });
  return out;
}

/** `--shard-size` as written: a positive whole number of bytes (yargs would turn 'abc' into NaN). */
function parseShardSize(text: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!(Number.isSafeInteger(n) && n > 0)) throw new OnnxOptError('USAGE', `--shard-size expects a positive whole number of bytes, got '${text}'`);
  return n;
}

function buildCli(y: Argv, setCode: (c: number) => void, plugins: string[]): Argv {
  return y
    .scriptName('onnx-opt')
    .usage('$0 <model.onnx> -o <out.onnx> --passes=<pipeline>\n\nOptimize an ONNX language model by changing its architecture: prune redundant attention, fuse FFN runs.')
    .option('debug', { type: 'boolean', describe: 'show stack traces for errors' })
    // Not `array: true`: that would swallow the model path after `--plugin x`; repeating still works.
    .option('plugin', { type: 'string', describe: 'ES module whose default export returns passes (repeatable)' })
    .command(
      '$0 [input]',
      'optimize a model with a pass pipeline',
      (c) =>
        withCalibrationOptions(c)
          .positional('input', { type: 'string', describe: 'input .onnx model' })
          .option('output', { alias: 'o', type: 'string', describe: 'output .onnx path (written atomically; the input is never modified)' })
          .option('passes', { alias: 'p', type: 'string', default: '', describe: "pipeline, e.g. 'canonicalize,attn-prune{count=4},ffn-fuse'" })
          .option('list-passes', { type: 'boolean', describe: 'list passes with their options and exit' })
          .option('stats', { type: 'boolean', describe: 'print per-pass wall time and statistics' })
          .option('verify-each', { type: 'boolean', describe: 'run the IR verifier after every pass' })
          .option('print-ir-after', { type: 'string', describe: 'print the IR after <pass>, all, or changed' })
          .option('external-data', { type: 'string', choices: ['auto', 'inline', 'external', 'keep'] as const, default: 'auto', describe: 'where weights go in the output' })
          .option('shard-size', { type: 'string', describe: 'split external data into files of at most this many bytes (default: one file)' })
          .option('fsync', { type: 'boolean', describe: 'fsync output files before renaming them into place (durable across power loss)' })
          .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress or messages' })
          .option('json', { type: 'boolean', describe: 'print a machine-readable result on stdout and nothing else there' })
          .option('target', { type: 'string', choices: ['any', 'cpu', 'cuda', 'tensorrt'] as const, default: 'any', describe: 'check the output against an execution provider before writing: an error for cuda/tensorrt, warnings for any' })
          .option('report', { type: 'string', describe: 'write a report: out.html (self-contained page with charts) or out.json (versioned data)' })
          .option('config', { type: 'string', describe: 'a JSON pipeline file (input, output, passes, calibration, verify, report) instead of flags' })
          .option('scores', { type: 'string', describe: 'JSON of precomputed scores (e.g. an earlier --report out.json) to drive attn-prune/ffn-fuse without calibration runs' })
          .option('verify', { type: 'string', describe: "after writing, compare output with input on calibration data; optional thresholds 'max-kl=0.05,min-top1=0.9,max-abs=1e-3' (exit 1 if breached; the output is still written)" })
          .option('heldout', { type: 'string', describe: 'held-out data (same formats as --calib) for heal\'s check and for --verify (default: heal splits the calibration sequences)' }),
      async (a) => {
        if (a['list-passes']) {
          process.stdout.write(formatPassList(defaultRegistry) + '\n');
          return setCode(0);
        }
        if (a.config) return setCode(await optimizeCommand({ ...readConfigFile(a.config), plugins, stats: a.stats, quiet: a.quiet, json: a.json, verifyEach: a['verify-each'], ...(a.report ? { report: a.report } : {}) }));
        if (!a.input) throw new OnnxOptError('USAGE', 'no input model given (see --help)');
        if (!a.output) throw new OnnxOptError('USAGE', 'no output path given: use -o <out.onnx>');
        setCode(
          await optimizeCommand({
            input: a.input,
            output: a.output,
            passes: a.passes,
            stats: a.stats,
            verifyEach: a['verify-each'],
            printIrAfter: a['print-ir-after'],
            externalData: a['external-data'] as 'auto',
            fsync: a.fsync,
            shardSize: a['shard-size'] === undefined ? undefined : parseShardSize(a['shard-size']),
            verify: a.verify === undefined ? undefined : String(a.verify),
            scores: a.scores,
            plugins,
            report: a.report,
            target: a.target as 'any',
            heldout: a.heldout,
            ...calibrationArgs(a),
            quiet: a.quiet,
            json: a.json,
          }),
        );
      },
    )
    .command(
      'inspect <model>',
      'show op histogram, inputs/outputs, parameters and external data',
      (c) =>
        c
          .positional('model', { type: 'string', demandOption: true })
          .option('json', { type: 'boolean', describe: 'machine-readable output' })
          .option('layers', { type: 'boolean', describe: 'show the decoder layer map: norms, attention op, KV names, FFN kind, hidden size, parameter bytes' })
          .option('explain-rule', { type: 'string', describe: 'report where a pattern rule matches, or its best partial match and where it broke' }),
      (a) => setCode(inspectCommand({ model: a.model, json: a.json, layers: a.layers, explainRule: a['explain-rule'] })),
    )
    .command(
      'verify <original> <optimized>',
      'run both models on calibration data and compare: errors, KL, top-1, perplexity',
      (c) =>
        withCalibrationOptions(
          c
            .positional('original', { type: 'string', demandOption: true })
            .positional('optimized', { type: 'string', demandOption: true })
            .option('max-kl', { type: 'number', describe: 'fail (exit 1) if the mean next-token KL exceeds this' })
            .option('min-top1', { type: 'number', describe: 'fail (exit 1) if top-1 agreement is below this' })
            .option('max-abs', { type: 'number', describe: 'fail (exit 1) if any output differs by more than this' })
            .option('json', { type: 'boolean', describe: 'machine-readable result on stdout' }),
        ),
      async (a) =>
        setCode(
          await verifyCommand({
            original: a.original,
            optimized: a.optimized,
            maxKl: a['max-kl'],
            minTop1: a['min-top1'],
            maxAbs: a['max-abs'],
            json: a.json,
            ...calibrationArgs(a),
          }),
        ),
    )
    .command(
      'explore <model>',
      'score once, then sweep attention removal (with and without FFN fusion) on held-out tokens: Pareto frontier of KL against predicted speed-up',
      (c) =>
        withCalibrationOptions(
          c
            .positional('model', { type: 'string', demandOption: true })
            .option('heldout', { type: 'string', describe: 'held-out data to evaluate on (default: the second half of the calibration sequences)' })
            .option('max-kl', { type: 'number', describe: 'print the fastest configuration whose held-out KL is at most this, as a --passes pipeline' })
            .option('max-removed', { type: 'number', describe: 'most attention sublayers removed (default: half of them)' })
            .option('fuse-threshold', { type: 'number', describe: "ffn-fuse's dependency threshold for the fused variants (default 0.2)" })
            .option('context', { type: 'number', describe: 'context length the decode speed-up is predicted at (default 512)' })
            .option('json', { type: 'boolean', describe: 'machine-readable result on stdout' })
            .option('report', { type: 'string', describe: 'write out.html (chart of the trade-off) or out.json' })
            .option('quiet', { alias: 'q', type: 'boolean' }),
        ),
      async (a) =>
        setCode(
          await exploreCommand({
            model: a.model,
            heldout: a.heldout,
            maxKl: a['max-kl'],
            maxRemoved: a['max-removed'],
            fuseThreshold: a['fuse-threshold'],
            context: a.context,
            json: a.json,
            report: a.report,
            quiet: a.quiet,
            ...calibrationArgs(a),
          }),
        ),
    )
    .command('golden', 'make or check golden outputs in ONNX test-data-set layout', (c) =>
      c
        .command(
          'make <model>',
          'run the model on calibration sequences and write test_data_set_N/{input,output}_K.pb',
          (cc) => withCalibrationOptions(cc.positional('model', { type: 'string', demandOption: true }).option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'folder for the data sets' })),
          async (a) =>
            setCode(await goldenMakeCommand({ model: a.model, output: a.output, ...calibrationArgs(a) })),
        )
        .command(
          'check <model> <dir>',
          'run the model on the data sets and compare the outputs it shares with them, by name (exit 1 on mismatch)',
          (cc) =>
            cc
              .positional('model', { type: 'string', demandOption: true })
              .positional('dir', { type: 'string', demandOption: true })
              .option('rtol', { type: 'number', default: 1e-3 })
              .option('atol', { type: 'number', default: 1e-7 })
              .option('json', { type: 'boolean' }),
          async (a) => setCode(await goldenCheckCommand({ model: a.model, dir: a.dir, rtol: a.rtol, atol: a.atol, json: a.json })),
        )
        .demandCommand(1, 'golden needs a subcommand: make or check'),
    )
    .command(
      'codegen <model>',
      'generate a typed TypeScript runner for onnxruntime-node (Inputs/Outputs types, create, run, and generate() for decoders)',
      (c) =>
        c
          .positional('model', { type: 'string', demandOption: true })
          .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'the .ts file to write' })
          .option('class', { type: 'string', describe: 'class name (default: from the model file name)' })
          .option('module', { type: 'string', choices: ['esm', 'commonjs'] as const, default: 'esm', describe: 'how the runner finds its model file' })
          .option('quiet', { alias: 'q', type: 'boolean' }),
      // ts-morph (and the TypeScript compiler) load only here: about half of every other command's start-up.
      async (a) => {
        const { codegenCommand } = await import('./commands/codegen.js');
        setCode(codegenCommand({ model: a.model, output: a.output, className: a.class, module: a.module as 'esm', quiet: a.quiet }));
      },
    )
    .command(
      'demo',
      'build the bundled demo model with planted redundancy, optimize it, and summarize',
      (c) => c.option('dir', { type: 'string', default: 'demo-output', describe: 'folder for the demo model, its optimized copy and the report' }).option('quiet', { alias: 'q', type: 'boolean' }),
      async (a) => setCode(await demoCommand({ dir: a.dir, quiet: a.quiet })),
    )
    .strictCommands()
    .strictOptions()
    .help()
    .version()
    .fail((msg, err) => {
      if (err) throw err;
      throw new OnnxOptError('USAGE', msg.split('\n')[0]!);
    })
    .exitProcess(false);
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/onnx-opt')) {
  installInterruptHandlers();
  main(hideBin(process.argv)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.exitCode = reportError(e, true);
    },
  );
}

export { EXIT_USAGE };
