/**
 * `prunelens` — the headless face of the engine. One file per command under cli/; each is a thin wrapper
 * over the same engine functions the language server calls.
 *
 * Exit codes: 0 success; 1 bad input or a refused action (a usage error, a bad flag value, a malformed file,
 * an output PruneLens will not write) with one line on stderr; 2 only for a bug in PruneLens (with its
 * stack, for the report); 130 a cancelled `run --events`.
 */
import { Command, CommanderError } from 'commander';
import { analyzeCommand } from './cli/analyze';
import { CONFIG_DEFAULTS, DEFAULT_THRESHOLD } from './config/definition';
import { demoCommand } from './cli/demo';
import { doctorCommand } from './cli/doctor';
import { inspectCommand } from './cli/inspect';
import { pruneCommand } from './cli/prune';
import { runConfigCommand } from './cli/run';
import { evaluateCommand, finetuneCommand, trainCommand } from './cli/train';
import { exitStatus, printErrorLine } from './cli/terminal';
import { PruneLensError } from './util/errors';

export function buildProgram(): Command {
  const program = new Command();
  // Set before the subcommands are added, so they inherit it: usage errors are thrown to main(), which
  // prints them as one line, instead of commander printing and exiting on its own.
  program.exitOverride().configureOutput({ outputError: () => undefined });
  program
    .name('prunelens')
    .description('CNN filter pruning (López-González et al. 2024): analyse, prune, fine-tune and explain TF.js models');
  program
    .command('inspect')
    .argument('<model>', 'model.json of a TF.js layers model (or its folder)')
    .option('--json', 'machine-readable output')
    .description('per-layer channels, parameters, FLOPs and prunability, and the coupled channel groups')
    .action(inspectCommand);
  program
    .command('prune')
    .argument('<model>', 'model.json of a TF.js layers model (or its folder)')
    .requiredOption('--plan <plan.json>', 'pruning plan {"version":1,"layers":{"<layer>":{"keep":[...]}}}')
    .requiredOption(
      '--out <dir>',
      'a new folder for the pruned model (or an earlier PruneLens output); for ONNX also x.onnx',
    )
    .option('--json', 'machine-readable summary')
    .description('apply a pruning plan and write the smaller model')
    .action(pruneCommand);
  program
    .command('analyze')
    .argument('<model>', 'model.json')
    .requiredOption(
      '--data <spec>',
      'dataset folder/file or bundled:cropweed | bundled:fashion-mosaic | bundled:fashion-mnist',
    )
    .option(
      '--method <m>',
      'pca-nci (A), distribution (B), or a baseline: l1 bn-scale apoz hrank fpgm random',
      'pca-nci',
    )
    .option('--tau <τ>', `method A: variance threshold (default ${String(CONFIG_DEFAULTS.method.varianceThreshold)})`)
    .option('--alpha <α>', `method B: cut-off μ − α·σ (default ${DEFAULT_THRESHOLD.alpha})`)
    .option('--percentile <p>', 'method B: cut at this percentile instead')
    .option('--otsu', "method B: cut at Otsu's threshold instead")
    .option('--scope <s>', 'method B: layer | global')
    .option('--ratio <r>', 'baselines: fraction of each layer to remove')
    .option('--flops <f>', 'baselines: fraction of FLOPs to remove')
    .option('--min-filters <n>', 'never keep fewer filters per layer')
    .option('--round-to <n>', "round each layer's kept filters up to a multiple of n (e.g. 16: CPU channel blocks)")
    .option('--images <n>', `calibration images (default ${String(CONFIG_DEFAULTS.calibration.images)})`)
    .option('--out <dir>', 'a new folder (or an earlier PruneLens output) for scores.json and plan.json')
    .option('--json', 'machine-readable summary')
    .description('statistics pass + method → scores.json and plan.json')
    .action(analyzeCommand);
  program
    .command('run')
    .argument('<config>', '*.prunelens.yaml | *.prunelens.json')
    .option('--json', 'machine-readable summary')
    .option('--events', 'stream progress as JSON lines (for the editor); SIGTERM cancels')
    .option('--from-run <dir>', "fine-tune the pruned model of an earlier run's output folder instead of pruning again")
    .description('the whole job from a config: analyse, prune, fine-tune, compare, report')
    .action(async (c, o) => {
      await runConfigCommand(c, o);
    });
  program
    .command('train')
    .argument('<model>', 'zoo:unet | zoo:segnet | zoo:deeplabv3plus | zoo:vgg16, or a model.json to continue')
    .requiredOption('--data <spec>', 'dataset')
    .requiredOption('--out <dir>', 'a new folder (or an earlier PruneLens output) for the trained model')
    .option('--epochs <n>')
    .option('--batch-size <n>')
    .option('--lr <lr>')
    .option('--patience <n>')
    .option('--seed <n>')
    .option('--count <n>', 'generated datasets: number of images')
    .option('--zoo-options <json>', 'zoo builder options as JSON (default: the demo size)')
    .option('--class-weights', 'median-frequency class weights (imbalanced segmentation)')
    .option('--resume', 'continue from the checkpoints beside --out')
    .option('--json')
    .description('train a zoo model (or continue one) with checkpoints, early stopping and progress')
    .action(trainCommand);
  program
    .command('finetune')
    .argument('<model>', 'the pruned model.json')
    .requiredOption('--data <spec>', 'dataset')
    .requiredOption('--out <dir>', 'a new folder (or an earlier PruneLens output) for the fine-tuned model')
    .option('--teacher <model>', 'the unpruned model, for distillation')
    .option('--distill', 'distil from --teacher')
    .option('--temperature <T>')
    .option('--epochs <n>')
    .option('--batch-size <n>')
    .option('--lr <lr>', "the original training's learning rate")
    .option(
      '--lr-factor <f>',
      `fine-tuning learning rate = factor × --lr (default ${String(CONFIG_DEFAULTS.finetune.lrFactor)})`,
    )
    .option('--patience <n>')
    .option('--seed <n>')
    .option('--count <n>')
    .option('--json')
    .description('fine-tune a pruned model: reduced learning rate, early stopping, best epoch kept')
    .action(finetuneCommand);
  program
    .command('evaluate')
    .argument('<model>', 'model.json')
    .requiredOption('--data <spec>', 'dataset')
    .option('--count <n>')
    .option('--seed <n>')
    .option('--json')
    .description('pixel accuracy, mIoU, per-class IoU, Dice, top-1 on the held-out split')
    .action(evaluateCommand);
  program
    .command('doctor')
    .description('which compute backend is active, and why faster ones are not')
    .action(doctorCommand);
  program
    .command('demo')
    .option('--json')
    .description('analyse, prune, fine-tune and report on the bundled U-Net and crop/weed data')
    .action(demoCommand);
  return program;
}

/** A system error from Node (a file that cannot be read or written): the user's to fix, not a bug. */
const isSystemError = (err: unknown): err is NodeJS.ErrnoException =>
  err instanceof Error &&
  typeof (err as NodeJS.ErrnoException).code === 'string' &&
  typeof (err as NodeJS.ErrnoException).syscall === 'string';

export async function main(argv: string[]): Promise<number> {
  exitStatus.code = 0;
  try {
    await buildProgram().parseAsync(argv);
    return exitStatus.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help / --version print to stdout and succeed; `prunelens` alone has printed the help to stderr.
      if (err.exitCode === 0 || err.code === 'commander.help') return err.exitCode;
      printErrorLine(`${err.message.replace(/^error: /, '')} (see prunelens --help)`);
      return 1;
    }
    if (err instanceof PruneLensError) {
      printErrorLine(err.message);
      return 1;
    }
    if (isSystemError(err)) {
      printErrorLine(err.message);
      return 1;
    }
    printErrorLine(`internal error (a bug in PruneLens; please report it with what follows): ${String(err)}`);
    process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
    return 2;
  }
}
