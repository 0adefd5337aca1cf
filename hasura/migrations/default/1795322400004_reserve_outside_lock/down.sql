-- Why: undo 1795322400004_reserve_outside_lock. It only replaced reserve_credits; to get the
-- previous version back, roll back 1795322400002_ledger_hot_path as well and apply it again.
select 1;
