drop function public.api_reservation_is_new(uuid);
