-- The catalogue: quality levels, AI capabilities, models, plans (with one retired version), what
-- each plan includes, and the top-up packs. Ids are fixed so tests, docs and the e2e journeys can
-- name them; every insert is `on conflict do nothing`, so running the file again changes nothing.
-- Prices: 1 credit is worth about 2p (the 500-credit pack costs £10).

insert into public.quality_levels (code, name, description, rank) values
  ('fast', 'Fast', 'Quick, inexpensive answers from a small model.', 1),
  ('enhanced', 'Enhanced', 'Better answers from a mid-sized model.', 2),
  ('premium', 'Premium', 'The best answers, from a frontier model.', 3)
on conflict do nothing;

insert into public.ai_capabilities
  (code, name, description, pricing_mode, base_cost_credits, typical_input_tokens, typical_output_tokens, max_input_tokens, max_output_tokens)
values
  ('question_suggestions', 'Question suggestions', 'Suggests follow-up questions for a page or a conversation.', 'per_token', 0.100, 400, 200, 2000, 600),
  ('summarization', 'Summarization', 'Summarizes a document or a thread.', 'per_token', 0.200, 3000, 400, 16000, 1500),
  ('image_captioning', 'Image captioning', 'Writes a caption and alt text for an image.', 'per_call', 2.000, 0, 0, 0, 0)
on conflict do nothing;

insert into public.llm_models (id, provider, model_name, display_name, input_credits_per_1k_tokens, output_credits_per_1k_tokens) values
  ('openai/gpt-4.1-nano', 'openai', 'gpt-4.1-nano', 'GPT-4.1 nano', 0.005000, 0.020000),
  ('openai/gpt-4.1-mini', 'openai', 'gpt-4.1-mini', 'GPT-4.1 mini', 0.020000, 0.080000),
  ('openai/gpt-4.1', 'openai', 'gpt-4.1', 'GPT-4.1', 0.100000, 0.400000),
  ('anthropic/claude-haiku-4-5', 'anthropic', 'claude-haiku-4-5', 'Claude Haiku 4.5', 0.050000, 0.250000),
  ('anthropic/claude-sonnet-4-5', 'anthropic', 'claude-sonnet-4-5', 'Claude Sonnet 4.5', 0.150000, 0.750000),
  ('google/gemini-2.5-flash', 'google', 'gemini-2.5-flash', 'Gemini 2.5 Flash', 0.015000, 0.125000),
  ('google/gemini-2.5-pro', 'google', 'gemini-2.5-pro', 'Gemini 2.5 Pro', 0.062500, 0.500000),
  ('mistral/mistral-small-latest', 'mistral', 'mistral-small-latest', 'Mistral Small', 0.005000, 0.015000)
on conflict do nothing;

-- Plans. Pro version 1 is retired (no longer offered) but kept for organizations still on it.
insert into public.plans
  (id, code, version, name, description, monthly_allowance_credits, price_minor, currency, rank, stripe_price_id, is_active)
values
  ('a0000000-0000-4000-8000-000000000001', 'free', 1, 'Free', 'Try the AI features: fast quality only.', 10.000, 0, 'GBP', 0, null, true),
  ('a0000000-0000-4000-8000-000000000012', 'pro', 1, 'Pro (2025)', 'The first Pro plan, no longer offered.', 400.000, 1500, 'GBP', 1, 'price_pro_v1_monthly', false),
  ('a0000000-0000-4000-8000-000000000002', 'pro', 2, 'Pro', 'Fast and enhanced quality for growing teams.', 500.000, 1900, 'GBP', 1, 'price_pro_v2_monthly', true),
  ('a0000000-0000-4000-8000-000000000003', 'team', 1, 'Team', 'Every quality level, higher limits.', 2000.000, 4900, 'GBP', 2, 'price_team_v1_monthly', true)
on conflict do nothing;

insert into public.plan_capabilities (plan_id, capability_code, rate_limit_per_hour, rate_limit_per_day) values
  ('a0000000-0000-4000-8000-000000000001', 'question_suggestions', 20, 100),
  ('a0000000-0000-4000-8000-000000000001', 'summarization', 5, 20),
  ('a0000000-0000-4000-8000-000000000012', 'question_suggestions', 200, 2000),
  ('a0000000-0000-4000-8000-000000000012', 'summarization', 100, 1000),
  ('a0000000-0000-4000-8000-000000000012', 'image_captioning', 50, 500),
  ('a0000000-0000-4000-8000-000000000002', 'question_suggestions', 200, 2000),
  ('a0000000-0000-4000-8000-000000000002', 'summarization', 100, 1000),
  ('a0000000-0000-4000-8000-000000000002', 'image_captioning', 50, 500),
  ('a0000000-0000-4000-8000-000000000003', 'question_suggestions', 1000, null),
  ('a0000000-0000-4000-8000-000000000003', 'summarization', 500, null),
  ('a0000000-0000-4000-8000-000000000003', 'image_captioning', 200, 2000)
on conflict do nothing;

-- free: fast only; pro: fast and enhanced; team: all three.
insert into public.plan_capability_quality_levels (plan_id, capability_code, quality_level_code, model_id)
select p.id, m.capability_code, m.quality_level_code, m.model_id
from public.plans p
join (values
  ('question_suggestions', 'fast', 'openai/gpt-4.1-nano', 1),
  ('question_suggestions', 'enhanced', 'openai/gpt-4.1-mini', 2),
  ('question_suggestions', 'premium', 'anthropic/claude-sonnet-4-5', 3),
  ('summarization', 'fast', 'google/gemini-2.5-flash', 1),
  ('summarization', 'enhanced', 'anthropic/claude-haiku-4-5', 2),
  ('summarization', 'premium', 'google/gemini-2.5-pro', 3),
  ('image_captioning', 'fast', 'mistral/mistral-small-latest', 1),
  ('image_captioning', 'enhanced', 'openai/gpt-4.1-mini', 2),
  ('image_captioning', 'premium', 'openai/gpt-4.1', 3)
) as m (capability_code, quality_level_code, model_id, quality_rank) on true
join public.plan_capabilities pc on pc.plan_id = p.id and pc.capability_code = m.capability_code
where m.quality_rank <= case p.code when 'free' then 1 when 'pro' then 2 else 3 end
on conflict do nothing;

insert into public.topup_packages (id, code, name, credits, price_minor, currency, stripe_price_id, is_active, sort_order) values
  ('0c000000-0000-4000-8000-000000000001', 'pack_500', '500 credits', 500.000, 1000, 'GBP', 'price_pack_500', true, 1),
  ('0c000000-0000-4000-8000-000000000002', 'pack_1400', '1,400 credits', 1400.000, 2500, 'GBP', 'price_pack_1400', true, 2),
  ('0c000000-0000-4000-8000-000000000003', 'pack_3000', '3,000 credits', 3000.000, 5000, 'GBP', 'price_pack_3000', true, 3)
on conflict do nothing;
