-- API usage this month against the plan's limits (MTU, MTE, MPV, MSR).
-- From the latest account snapshot; `refiner load` takes one per run. MTE (tracked events) has
-- no limit, and a limit of 0 gives no percentage.
with latest as (
    select *
    from refiner_raw.account_usage
    order by snapshot_at desc
    limit 1
),

usage as (
    select plan, 'MTU' as metric, 'tracked users' as counts, mtu_count as used,
        mtu_limit as plan_limit, mtu_count_updated_at as counted_at
    from latest
    union all
    select plan, 'MTE', 'tracked events', mte_count, null, mte_count_updated_at
    from latest
    union all
    select plan, 'MPV', 'page views', mpv_count, mpv_limit, mpv_count_updated_at
    from latest
    union all
    select plan, 'MSR', 'survey responses', msr_count, msr_limit, msr_count_updated_at
    from latest
)

select
    plan,
    metric,
    counts,
    used,
    plan_limit,
    case when plan_limit > 0 then round(100.0 * used / plan_limit, 1) end as percent_used,
    counted_at
from usage
