-- Why: undo 1795322400300_api_available (the api's read of available credits after a ledger call).
drop function public.api_available_credits(uuid, timestamptz);
