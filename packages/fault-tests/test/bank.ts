import type { Database } from '@dal/core';
import { expect } from 'vitest';

/** One money transfer between two accounts, logged in the ledger under its unique id. */
export interface Transfer {
  readonly id: string;
  readonly from: number;
  readonly to: number;
  readonly amount: number;
}

/**
 * The money-transfer workload of the fault tests: accounts whose balances must always sum to the
 * initial total, and a ledger that must explain every balance and hold every committed transfer.
 */
export class Bank {
  readonly accounts: string;
  readonly ledger: string;

  constructor(
    prefix: string,
    readonly accountCount = 20,
    readonly initialBalance = 1_000,
  ) {
    this.accounts = `${prefix}_accounts_${process.pid}`;
    this.ledger = `${prefix}_ledger_${process.pid}`;
  }

  async create(db: Database, amountType: string): Promise<void> {
    await this.drop(db);
    await db.execute(`CREATE TABLE [${this.accounts}] ([id] INTEGER PRIMARY KEY, [balance] ${amountType} NOT NULL)`);
    await db.execute(
      `CREATE TABLE [${this.ledger}] ([id] VARCHAR(40) PRIMARY KEY, [from_id] INTEGER NOT NULL, [to_id] INTEGER NOT NULL, [amount] ${amountType} NOT NULL)`,
    );
    await db.withConnection((conn) =>
      conn.executeMany(
        `INSERT INTO [${this.accounts}] ([id], [balance]) VALUES (?, ?)`,
        Array.from({ length: this.accountCount }, (_, i) => [i + 1, this.initialBalance]),
      ),
    );
  }

  async drop(db: Database): Promise<void> {
    await db.execute(`DROP TABLE IF EXISTS [${this.ledger}]`);
    await db.execute(`DROP TABLE IF EXISTS [${this.accounts}]`);
  }

  /** A transfer between two different random accounts. */
  randomTransfer(id: string): Transfer {
    const from = 1 + Math.floor(Math.random() * this.accountCount);
    const to = 1 + ((from + Math.floor(Math.random() * (this.accountCount - 1))) % this.accountCount);
    return { id, from, to, amount: 1 + Math.floor(Math.random() * 50) };
  }

  /** Both balance updates (lower id first, so no lock-order deadlocks) and the ledger row, in one transaction. */
  run(db: Database, { id, from, to, amount }: Transfer, maxRetries: number): Promise<void> {
    const [first, firstDelta, second, secondDelta] = from < to ? [from, -amount, to, amount] : [to, amount, from, -amount];
    return db.withConnection((conn) =>
      conn.transaction(
        async (tx) => {
          await tx.execute(`UPDATE [${this.accounts}] SET [balance] = [balance] + ? WHERE [id] = ?`, [firstDelta, first]);
          await tx.execute(`UPDATE [${this.accounts}] SET [balance] = [balance] + ? WHERE [id] = ?`, [secondDelta, second]);
          await tx.execute(`INSERT INTO [${this.ledger}] ([id], [from_id], [to_id], [amount]) VALUES (?, ?, ?, ?)`, [id, from, to, amount]);
        },
        { retry: { maxRetries } },
      ),
    );
  }

  /**
   * Money conserved, every balance explained by the ledger, each transfer in it once, and every
   * transfer the caller saw committed present. At most `unknownOutcomes` rows may be in the ledger
   * without a commit the caller saw (a connection lost during COMMIT).
   */
  async checkBooks(db: Database, committed: Iterable<string>, unknownOutcomes = Number.POSITIVE_INFINITY): Promise<void> {
    const balances = await db.execute<{ id: number; balance: number | string }>(`SELECT [id], [balance] FROM [${this.accounts}] ORDER BY [id]`);
    const logged = await db.execute<{ id: string; from_id: number; to_id: number; amount: number | string }>(
      `SELECT [id], [from_id], [to_id], [amount] FROM [${this.ledger}]`,
    );
    const expected = new Map<number, number>(Array.from({ length: this.accountCount }, (_, i) => [i + 1, this.initialBalance]));
    for (const row of logged) {
      expected.set(Number(row.from_id), expected.get(Number(row.from_id))! - Number(row.amount));
      expected.set(Number(row.to_id), expected.get(Number(row.to_id))! + Number(row.amount));
    }
    expect(balances.reduce((sum, row) => sum + Number(row.balance), 0)).toBe(this.accountCount * this.initialBalance);
    expect(balances.map((row) => [Number(row.id), Number(row.balance)])).toEqual([...expected.entries()]);
    const present = new Set(logged.map((row) => row.id));
    expect(present.size).toBe(logged.length);
    const seen = [...committed];
    expect(seen.filter((id) => !present.has(id))).toEqual([]);
    expect(logged.length - seen.length).toBeLessThanOrEqual(unknownOutcomes);
  }
}
