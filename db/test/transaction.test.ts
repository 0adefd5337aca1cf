import { describe, expect, it } from 'vitest';
import { inTransaction, pg } from '../src/index.ts';
import { useTestDatabase } from '../src/testing.ts';

const db = await useTestDatabase();

/** An empty tx_probe table, for the work to write to. */
async function emptyProbe(): Promise<void> {
  await db.pool.query('create table if not exists tx_probe (n int)');
  await db.pool.query('truncate tx_probe');
}

async function countRows(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>('select count(*)::int as n from tx_probe');
  return rows[0]!.n;
}

describe('inTransaction', () => {
  it('commits what the work wrote and returns its result', async () => {
    await emptyProbe();
    const result = await inTransaction(db.pool, async (client) => {
      await client.query('insert into tx_probe values (1), (2)');
      return 'done';
    });
    expect(result).toBe('done');
    expect(await countRows()).toBe(2);
  });

  it('rolls back everything the work wrote when it throws, and throws the same error', async () => {
    await emptyProbe();
    const failure = new Error('work failed');
    await expect(
      inTransaction(db.pool, async (client) => {
        await client.query('insert into tx_probe values (1)');
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await countRows()).toBe(0);
  });

  it('turns a connection the server drops into an error of the work, and closes it instead of handing it back', async () => {
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    pool.on('error', () => undefined);
    try {
      const before = await pool.query<{ pid: number }>('select pg_backend_pid() as pid');
      // The work ends its own connection: its query and the rollback after it fail, and the client
      // emits 'error' (unhandled, that would crash the process; vitest fails the run on it).
      await expect(
        inTransaction(pool, async (client) => {
          await client.query('select pg_terminate_backend(pg_backend_pid())');
        }),
      ).rejects.toThrow(/terminat/);
      expect(pool.totalCount).toBe(0);
      const after = await pool.query<{ pid: number }>('select pg_backend_pid() as pid');
      expect(after.rows[0]!.pid).not.toBe(before.rows[0]!.pid);
    } finally {
      await pool.end();
    }
  });
});
