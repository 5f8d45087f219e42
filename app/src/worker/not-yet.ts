/**
 * A task that cannot be done yet, through no failure: something it must know is still on its way
 * (a webhook GitHub has not delivered yet). The worker puts it back, due after `seconds`, and the
 * claim is not counted as an attempt. Whoever throws it bounds how often it can.
 */
export class NotYet extends Error {
  override readonly name = "NotYet";
  constructor(
    readonly seconds: number,
    reason: string,
  ) {
    super(reason);
  }
}
