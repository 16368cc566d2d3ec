/** What the account commands (`sigmalite user`, `token`) and the seed file refuse, with why. */
export class AccountError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccountError';
  }
}
