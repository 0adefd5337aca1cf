drop function public.api_available_credits(uuid, timestamptz);
