-- Why: undo 1795322400005_allowance_needs_expiry. It only replaced grant_credits; to get the
-- previous version back, roll back 1795322400001_ledger_functions as well and apply it again.
select 1;
