-- Why: undo 1795322402100_playground_runs.
drop table ledger.playground_runs;
