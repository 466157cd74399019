"""Options typed on a command line or in a form are checked and converted before use."""

from __future__ import annotations

import pytest

from fusion_core.errors import ConfigError
from fusion_core.options import check_options, describe_options


class Widget:
    option_help = {"size": "how big"}
    option_choices = {"stride": (1, 2)}

    def __init__(self, *, size: int = 4, stride: int = 1, rate: float = 0.5, loud: bool = False) -> None:
        pass


def test_options_are_read_from_the_keyword_only_signature():
    infos = {info.name: info for info in describe_options(Widget)}
    assert list(infos) == ["size", "stride", "rate", "loud"]
    assert infos["size"].help == "how big" and infos["stride"].choices == (1, 2)


def test_text_values_become_the_option_type_before_choices_are_checked():
    assert check_options(Widget, {"stride": "2", "rate": "0.25", "loud": "yes"}, "widget") == {
        "stride": 2,
        "rate": 0.25,
        "loud": True,
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"colour": 1}, "widget has no option 'colour'; valid options: size, stride, rate, loud"),
        ({"stride": "3"}, "widget option stride='3' is not allowed; choose one of: 1, 2"),
        ({"size": "big"}, "widget option size takes a whole number, not 'big'"),
        ({"loud": "maybe"}, "widget option loud takes true or false, not 'maybe'"),
    ],
)
def test_bad_options_say_what_is_allowed(options, message):
    with pytest.raises(ConfigError) as caught:
        check_options(Widget, options, "widget")
    assert str(caught.value) == message
