import textwrap
from datetime import UTC, datetime

import pytest

from ingestion.accounts import (
    Accounts,
    AccountsError,
    AccountsWarning,
    Customer,
    Subscription,
    SubscriptionChange,
    load_accounts,
    write_accounts,
)
from ingestion.catalog import load_catalog
from ingestion.warehouse import connect

CATALOG = """\
billable_metrics:
  - {code: api_calls, aggregation_type: count_agg}
plans:
  - {code: starter_usd, interval: monthly, amount_cents: 1000, amount_currency: USD}
  - {code: pro_usd, interval: yearly, amount_cents: 100000, amount_currency: USD}
  - {code: starter_eur, interval: monthly, amount_cents: 900, amount_currency: EUR}
"""

CUSTOMERS = """\
external_customer_id,name,currency,timezone,billing_time
acme,Acme Corp,USD,America/New_York,calendar
globex,,EUR,Europe/Paris,anniversary
initech,"Initech, Inc.",USD,,
"""

SUBSCRIPTIONS = """\
external_subscription_id,external_customer_id,plan_code,started_at,ending_at
sub_acme,acme,starter_usd,2026-01-15T00:00:00-05:00,
sub_globex,globex,starter_eur,2026-02-01T00:00:00+01:00,2026-12-31T23:00:00Z
sub_initech,initech,pro_usd,2026-03-01T10:30:00.250+00:00,
"""

CHANGES = """\
external_subscription_id,plan_code,changed_at
sub_acme,pro_usd,2026-03-10T12:00:00+02:00
sub_acme,starter_usd,2026-05-01T00:00:00Z
"""


@pytest.fixture
def catalog(tmp_path):
    path = tmp_path / "catalog.yml"
    path.write_text(CATALOG)
    return load_catalog(path)


def landing(tmp_path, customers=CUSTOMERS, subscriptions=SUBSCRIPTIONS, changes=CHANGES):
    folder = tmp_path / "landing"
    folder.mkdir(exist_ok=True)
    for name, text in [
        ("customers.csv", customers),
        ("subscriptions.csv", subscriptions),
        ("subscription_changes.csv", changes),
    ]:
        if text is not None:
            (folder / name).write_text(textwrap.dedent(text))
    return folder


def problems(folder, catalog):
    with pytest.raises(AccountsError) as info:
        load_accounts(folder, catalog)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def test_valid_files_load(tmp_path, catalog):
    accounts = load_accounts(landing(tmp_path), catalog)
    assert accounts == Accounts(
        customers=[
            Customer("acme", "Acme Corp", "USD", "America/New_York", "calendar"),
            Customer("globex", None, "EUR", "Europe/Paris", "anniversary"),
            Customer("initech", "Initech, Inc.", "USD", "UTC", "calendar"),
        ],
        subscriptions=[
            # Offsets converted to naive UTC.
            Subscription("sub_acme", "acme", "starter_usd", datetime(2026, 1, 15, 5, 0), None),
            Subscription(
                "sub_globex",
                "globex",
                "starter_eur",
                datetime(2026, 1, 31, 23, 0),
                datetime(2026, 12, 31, 23, 0),
            ),
            Subscription(
                "sub_initech", "initech", "pro_usd", datetime(2026, 3, 1, 10, 30, 0, 250000), None
            ),
        ],
        subscription_changes=[
            # A monthly -> yearly change is allowed.
            SubscriptionChange("sub_acme", "pro_usd", datetime(2026, 3, 10, 10, 0)),
            SubscriptionChange("sub_acme", "starter_usd", datetime(2026, 5, 1, 0, 0)),
        ],
        warnings=[],
    )


def test_changes_file_is_optional(tmp_path, catalog):
    accounts = load_accounts(landing(tmp_path, changes=None), catalog)
    assert accounts.subscription_changes == []
    assert len(accounts.subscriptions) == 3


def test_write_accounts_replaces_raw_tables(tmp_path, catalog):
    con = connect(tmp_path / "warehouse.duckdb")
    loaded_at = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    write_accounts(con, load_accounts(landing(tmp_path), catalog), loaded_at)
    at = datetime(2026, 6, 1, 8, 0)
    assert con.execute("select * from raw.customers order by 1").fetchall() == [
        ("acme", "Acme Corp", "USD", "America/New_York", "calendar", at),
        ("globex", None, "EUR", "Europe/Paris", "anniversary", at),
        ("initech", "Initech, Inc.", "USD", "UTC", "calendar", at),
    ]
    assert con.execute("select * from raw.subscriptions order by 1").fetchall() == [
        ("sub_acme", "acme", "starter_usd", datetime(2026, 1, 15, 5, 0), None, "file", at),
        (
            "sub_globex",
            "globex",
            "starter_eur",
            datetime(2026, 1, 31, 23, 0),
            datetime(2026, 12, 31, 23, 0),
            "file",
            at,
        ),
        (
            "sub_initech",
            "initech",
            "pro_usd",
            datetime(2026, 3, 1, 10, 30, 0, 250000),
            None,
            "file",
            at,
        ),
    ]
    assert con.execute("select * from raw.subscription_changes order by 3").fetchall() == [
        ("sub_acme", "pro_usd", datetime(2026, 3, 10, 10, 0), at),
        ("sub_acme", "starter_usd", datetime(2026, 5, 1, 0, 0), at),
    ]

    # A second load replaces everything.
    smaller = landing(
        tmp_path,
        customers="external_customer_id,currency\nacme,USD\n",
        subscriptions=(
            "external_subscription_id,external_customer_id,plan_code,started_at\n"
            "s1,acme,pro_usd,2026-01-01T00:00:00Z\n"
        ),
        changes="external_subscription_id,plan_code,changed_at\n",
    )
    write_accounts(con, load_accounts(smaller, catalog), datetime(2026, 6, 2))
    later = datetime(2026, 6, 2)
    assert con.execute("select * from raw.customers").fetchall() == [
        ("acme", None, "USD", "UTC", "calendar", later)
    ]
    assert con.execute("select * from raw.subscriptions").fetchall() == [
        ("s1", "acme", "pro_usd", datetime(2026, 1, 1), None, "file", later)
    ]
    assert con.execute("select * from raw.subscription_changes").fetchall() == []


def test_extra_columns_are_warned_and_ignored(tmp_path, catalog):
    customers = "external_customer_id,currency,email,name\nacme,USD,a@acme.test,Acme\n"
    subscriptions = (
        "external_subscription_id,external_customer_id,plan_code,started_at\n"
        "s1,acme,pro_usd,2026-01-01T00:00:00Z\n"
    )
    folder = landing(tmp_path, customers=customers, subscriptions=subscriptions, changes=None)
    with pytest.warns(AccountsWarning) as record:
        accounts = load_accounts(folder, catalog)
    message = "customers.csv line 1: columns ignored (not in the contract): email"
    assert accounts.warnings == [message]
    assert [str(w.message) for w in record] == [message]
    assert accounts.customers == [Customer("acme", "Acme", "USD", "UTC", "calendar")]


def test_customer_errors(tmp_path, catalog):
    customers = """\
        external_customer_id,name,currency,timezone,billing_time
        acme,Acme,USD,America/New_York,calendar
        acme,Acme again,USD,UTC,calendar
        globex,,usd,Mars/Olympus,monthly
        ,Nobody,XYZ,UTC,calendar
        initech,Initech,USD,UTC
        """
    folder = landing(tmp_path, customers=customers, subscriptions="", changes=None)
    assert problems(folder, catalog) == [
        "customers.csv line 3: external_customer_id: duplicate 'acme' (first on line 2)",
        "customers.csv line 4: currency: 'usd' is not an ISO 4217 currency code "
        "(did you mean 'USD'?)",
        "customers.csv line 4: timezone: 'Mars/Olympus' is not an IANA time zone "
        "(e.g. Europe/Paris)",
        "customers.csv line 4: billing_time: 'monthly' is not calendar or anniversary",
        "customers.csv line 5: external_customer_id: required, but empty",
        "customers.csv line 5: currency: 'XYZ' is not an ISO 4217 currency code",
        "customers.csv line 6: 4 fields, the header has 5",
        "subscriptions.csv line 1: empty file; expected the header external_subscription_id,"
        "external_customer_id,plan_code,started_at,ending_at",
    ]


def test_subscription_errors(tmp_path, catalog):
    subscriptions = """\
        external_subscription_id,external_customer_id,plan_code,started_at,ending_at
        s1,acme,starter_usd,2026-01-01T00:00:00Z,
        s1,acme,starter_usd,2026-01-01T00:00:00Z,
        s2,nobody,starter_usd,2026-01-01T00:00:00Z,
        s3,acme,enterprise,2026-01-01T00:00:00Z,
        s4,acme,starter_eur,2026-01-01T00:00:00Z,
        s5,acme,starter_usd,2026-03-01T00:00:00Z,2026-03-01T01:00:00+01:00
        s6,acme,starter_usd,2026-03-01 10:00:00,
        s7,acme,starter_usd,yesterday,
        s8,acme,starter_usd,,
        """
    folder = landing(tmp_path, subscriptions=subscriptions, changes=None)
    assert problems(folder, catalog) == [
        "subscriptions.csv line 3: external_subscription_id: duplicate 's1' (first on line 2)",
        "subscriptions.csv line 4: external_customer_id: unknown customer 'nobody' "
        "(not in customers.csv)",
        "subscriptions.csv line 5: plan_code: unknown plan 'enterprise' (not in catalog.yml)",
        "subscriptions.csv line 6: plan_code: plan 'starter_eur' is in EUR but customer 'acme' "
        "pays in USD; a customer is only put on plans in the customer's currency",
        "subscriptions.csv line 7: ending_at: 2026-03-01T01:00:00+01:00 is not after started_at "
        "2026-03-01T00:00:00Z",
        "subscriptions.csv line 8: started_at: timestamp '2026-03-01 10:00:00' has no UTC offset; "
        "add Z or +hh:mm",
        "subscriptions.csv line 9: started_at: 'yesterday' is not an ISO-8601 timestamp "
        "(e.g. 2026-03-01T00:00:00Z)",
        "subscriptions.csv line 10: started_at: required, but empty",
    ]


def test_change_errors(tmp_path, catalog):
    changes = """\
        external_subscription_id,plan_code,changed_at
        sub_nobody,pro_usd,2026-03-01T00:00:00Z
        sub_acme,pro_usd,2026-01-15T05:00:00Z
        sub_globex,starter_eur,2026-03-01T00:00:00Z
        sub_acme,starter_eur,2026-03-01T00:00:00Z
        sub_globex,pro_usd,2027-01-01T00:00:00Z
        sub_acme,starter_usd,2026-02-01T00:00:00Z
        sub_initech,starter_usd,2026-04-01T00:00:00Z
        sub_initech,starter_usd,2026-04-01T00:00:00Z
        sub_acme,enterprise,2026-04-01T00:00:00+25:00
        """
    folder = landing(tmp_path, changes=changes)
    assert problems(folder, catalog) == [
        "subscription_changes.csv line 2: external_subscription_id: unknown subscription "
        "'sub_nobody' (not in subscriptions.csv)",
        "subscription_changes.csv line 3: changed_at: 2026-01-15T05:00:00Z is outside the life of "
        "subscription 'sub_acme' (started 2026-01-15 05:00:00 UTC, open)",
        "subscription_changes.csv line 4: plan_code: subscription 'sub_globex' is already on plan "
        "'starter_eur' at 2026-03-01 00:00:00 UTC",
        "subscription_changes.csv line 5: plan_code: plan 'starter_eur' is in EUR but customer "
        "'acme' pays in USD; a customer is only put on plans in the customer's currency",
        "subscription_changes.csv line 6: plan_code: plan 'pro_usd' is in USD but customer "
        "'globex' pays in EUR; a customer is only put on plans in the customer's currency",
        "subscription_changes.csv line 6: changed_at: 2027-01-01T00:00:00Z is outside the life of "
        "subscription 'sub_globex' (started 2026-01-31 23:00:00 UTC, ends 2026-12-31 23:00:00 UTC)",
        # Lines 3 and 5 are invalid, so sub_acme is still on starter_usd on 2026-02-01.
        "subscription_changes.csv line 7: plan_code: subscription 'sub_acme' is already on plan "
        "'starter_usd' at 2026-02-01 00:00:00 UTC",
        "subscription_changes.csv line 9: changed_at: subscription 'sub_initech' already changes "
        "plan at 2026-04-01 00:00:00 UTC (line 8)",
        "subscription_changes.csv line 10: plan_code: unknown plan 'enterprise' (not in catalog.yml)",
        "subscription_changes.csv line 10: changed_at: '2026-04-01T00:00:00+25:00' is not an "
        "ISO-8601 timestamp (e.g. 2026-03-01T00:00:00Z)",
    ]


def test_same_plan_is_judged_against_the_previous_change(tmp_path, catalog):
    changes = """\
        external_subscription_id,plan_code,changed_at
        sub_acme,starter_usd,2026-06-01T00:00:00Z
        sub_acme,pro_usd,2026-04-01T00:00:00Z
        """
    # In time order: starter -> pro (line 3) -> starter (line 2): both are real changes.
    accounts = load_accounts(landing(tmp_path, changes=changes), catalog)
    assert [c.plan_code for c in accounts.subscription_changes] == ["starter_usd", "pro_usd"]
    changes = """\
        external_subscription_id,plan_code,changed_at
        sub_acme,pro_usd,2026-06-01T00:00:00Z
        sub_acme,pro_usd,2026-04-01T00:00:00Z
        """
    assert problems(landing(tmp_path, changes=changes), catalog) == [
        "subscription_changes.csv line 2: plan_code: subscription 'sub_acme' is already on plan "
        "'pro_usd' at 2026-06-01 00:00:00 UTC",
    ]


def test_missing_files_and_columns(tmp_path, catalog):
    folder = landing(
        tmp_path,
        customers=None,
        subscriptions="external_subscription_id,plan_code,started_at\n",
        changes="external_subscription_id,plan_code\n",
    )
    assert problems(folder, catalog) == [
        f"customers.csv: file not found in {folder}",
        "subscriptions.csv line 1: missing columns external_customer_id",
        "subscription_changes.csv line 1: missing columns changed_at",
    ]


def test_rows_of_a_bad_customer_are_not_reported_again(tmp_path, catalog):
    customers = "external_customer_id,currency\nacme,USDX\n"
    subscriptions = (
        "external_subscription_id,external_customer_id,plan_code,started_at\n"
        "s1,acme,starter_usd,2026-01-01T00:00:00Z\n"
    )
    changes = "external_subscription_id,plan_code,changed_at\ns1,pro_usd,2026-02-01T00:00:00Z\n"
    folder = landing(tmp_path, customers=customers, subscriptions=subscriptions, changes=changes)
    assert problems(folder, catalog) == [
        "customers.csv line 2: currency: 'USDX' is not an ISO 4217 currency code",
    ]
