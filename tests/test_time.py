"""resumable._time: durations typed by people, aware UTC moments, wording for tables."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pendulum
import pytest

import resumable
from resumable._time import as_utc, duration_in_words, parse_duration, relative


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("7d", 7 * 86_400),
        ("12h", 12 * 3_600),
        ("15m", 900),
        ("90s", 90),
        ("2w", 14 * 86_400),
        ("1h30m", 5_400),
        ("1d12h", 129_600),
        ("1.5h", 5_400),
        (" 7D ", 7 * 86_400),
        ("P7D", 7 * 86_400),
        ("p7d", 7 * 86_400),
        ("PT12H", 12 * 3_600),
        ("P1DT6H", 30 * 3_600),
        ("PT0.5S", 0.5),
        ("P1W", 7 * 86_400),
        ("3600", 3_600),
        ("0.25", 0.25),
        (45, 45),
        (2.5, 2.5),
        (timedelta(hours=1), 3_600),
    ],
)
def test_durations_people_write(text: Any, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    ["", "7x", "d7", "7 days", "1m1h", "h", "P", "P7X", "-P1D", "PT", "nan", "inf", True],
)
def test_bad_durations_raise_one_clear_error(text: Any) -> None:
    with pytest.raises(resumable.ConfigurationError) as caught:
        parse_duration(text, "--older-than")
    message = str(caught.value)
    assert "--older-than" in message and "\n" not in message


@pytest.mark.parametrize("text", ["0", "0s", "P0D", "-5", -1, timedelta(seconds=-1)])
def test_zero_and_negative_durations(text: Any) -> None:
    with pytest.raises(resumable.ConfigurationError, match="duration"):
        parse_duration(text, "retention")
    if text in ("0", "0s", "P0D"):
        assert parse_duration(text, allow_zero=True) == 0.0


def test_as_utc_gives_aware_pendulum_datetimes() -> None:
    naive = datetime(2026, 1, 2, 3, 4, 5)
    paris = datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    for moment in (naive, paris, naive.replace(tzinfo=timezone.utc)):
        converted = as_utc(moment)
        assert isinstance(converted, pendulum.DateTime) and isinstance(converted, datetime)
        assert converted.utcoffset() == timedelta(0)
        assert converted == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def test_words_for_tables() -> None:
    assert duration_in_words(None) == "-"
    assert duration_in_words(0.3) == "less than a second"
    assert duration_in_words(1) == "1 second"
    assert duration_in_words(185) == "3 minutes 5 seconds"
    assert duration_in_words(3_725) == "1 hour 2 minutes"
    assert duration_in_words(9 * 86_400 + 3 * 3_600, parts=1) == "1 week"
    moment = pendulum.datetime(2026, 1, 2, 12, 0, 0)
    assert relative(moment, moment.add(minutes=3, seconds=10)) == "3 minutes ago"
    assert relative(moment, moment.subtract(hours=2)) == "in 2 hours"
    assert relative(moment, moment.add(microseconds=10)) == "just now"
    assert relative(None) == "-"
    assert relative(pendulum.now("UTC").subtract(days=2)) == "2 days ago"
