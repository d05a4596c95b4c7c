/**
 * Time left in a training run, from running averages of seconds per training and per validation batch.
 * Before any validation batch is timed, a forward pass is guessed at a third of a training step.
 */
export class EtaClock {
  private trainSec = 0;
  private trainTimed = 0;
  private valSec = 0;
  private valTimed = 0;

  constructor(
    private readonly epochs: number,
    private readonly trainBatches: number,
    private readonly valBatches: number,
  ) {}

  trainBatchTook(seconds: number): void {
    this.trainSec += seconds;
    this.trainTimed++;
  }

  valBatchTook(seconds: number): void {
    this.valSec += seconds;
    this.valTimed++;
  }

  /** Seconds left if every remaining epoch runs, from `epoch` with these batches of it still to do. */
  secondsLeft(epoch: number, trainLeft: number, valLeft: number): number {
    const perTrain = this.trainTimed ? this.trainSec / this.trainTimed : 0;
    const perVal = this.valTimed ? this.valSec / this.valTimed : perTrain / 3;
    const epochsLeft = this.epochs - epoch;
    return (trainLeft + epochsLeft * this.trainBatches) * perTrain + (valLeft + epochsLeft * this.valBatches) * perVal;
  }
}
