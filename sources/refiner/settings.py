"""Constants of the Refiner API and of this source.

Points that `shared/refiner-api.md` marks INFERRED are decided here, in one place, following
its §11, so they are easy to change when Refiner's real behaviour becomes known.
"""

from __future__ import annotations

from typing import Final, Literal

DEFAULT_BASE_URL: Final = "https://api.refiner.io/v1"

# Pagination (§5). The default page length is a CONFLICT (50 vs 100); 50 follows S4/S5.
DEFAULT_PAGE_LENGTH: Final = 50
MAX_PAGE_LENGTH: Final = 1000

# Rate limits (§7.2): 4,000 requests per minute per key. We stay a margin under it.
DOCUMENTED_REQUESTS_PER_MINUTE: Final = 4000
DEFAULT_REQUESTS_PER_MINUTE: Final = 3600

# Retries: attempts per request (first try included) and the backoff envelope in seconds.
DEFAULT_MAX_ATTEMPTS: Final = 6
BACKOFF_INITIAL_SECONDS: Final = 0.5
BACKOFF_MAX_SECONDS: Final = 30.0
# A Retry-After longer than this is not waited out; the call fails with RateLimitedError.
MAX_RETRY_AFTER_SECONDS: Final = 120.0

# Timeouts in seconds.
DEFAULT_TIMEOUT_SECONDS: Final = 30.0
CONNECT_TIMEOUT_SECONDS: Final = 10.0

# Defaults of the `refiner` source's settings ([sources.refiner] in .dlt/config.toml).
DEFAULT_START_DATE: Final = "2024-01-01"
DEFAULT_INCLUDE: Final = "completed"
DEFAULT_LOOKBACK_HOURS: Final = 2.0
DEFAULT_REPORT_TYPES: Final = ("nps", "csat", "count")
DEFAULT_REPORTING_DAYS: Final = 30
DEFAULT_REPORTING_REFETCH_DAYS: Final = 3
DEFAULT_MAX_WORKERS: Final = 4
DEFAULT_RESHAPE_PROCESSES: Final = 0
"""0: two worker processes per CPU core but one (sources/refiner/reshape_pool.py)."""
DEFAULT_RESHAPE_IN_PROCESSES_FROM: Final = 20_000

# identify-user value rules (§3.2): strings up to 255 characters, `_at` keys are date-times.
MAX_TRAIT_STRING_LENGTH: Final = 255
MAX_TAGS_PER_RESPONSE: Final = 20

# Closed vocabularies (§3).
Include = Literal["completed", "partials", "all"]
ContactOrder = Literal["first_seen_at", "last_seen_at", "last_form_submission_at"]
FormList = Literal["all", "published", "drafts", "archived", "all_with_archived"]
ReportType = Literal["nps", "csat", "ratings", "distribution", "count"]
Paging = Literal["cursor", "page"]

INCLUDE_VALUES: Final = ("completed", "partials", "all")
CONTACT_ORDER_VALUES: Final = ("first_seen_at", "last_seen_at", "last_form_submission_at")
FORM_LIST_VALUES: Final = ("all", "published", "drafts", "archived", "all_with_archived")
REPORT_TYPES: Final = ("nps", "csat", "ratings", "distribution", "count")

# INFERRED (§3.5, §11.8): an unknown contact answers 404.
# INFERRED (§3.4): list ordering is descending on `order_by`.
# INFERRED (§6): timestamps without a zone are UTC.
NAIVE_TIMESTAMPS_ARE_UTC: Final = True
