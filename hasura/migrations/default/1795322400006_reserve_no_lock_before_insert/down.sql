-- Why: undo 1795322400006_reserve_no_lock_before_insert. It only replaced reserve_credits; to get
-- the previous version back, roll back 1795322400004_reserve_outside_lock as well and apply it again.
select 1;
