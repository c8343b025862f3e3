/** Ends the command with an exit status; a message, when given, goes to stderr. */
export class CliExit extends Error {
  readonly status: number;
  constructor(status: number, message = '') {
    super(message);
    this.name = 'CliExit';
    this.status = status;
  }
}
