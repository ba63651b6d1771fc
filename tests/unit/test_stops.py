"""Stop sequences: the filter at every split of the answer, and through the SDKs on real CLIs."""

from __future__ import annotations

import pytest

from cliwrap.core.errors import ApiError
from cliwrap.core.events import Event, Finished, FinishReason, TextDelta, Usage
from cliwrap.semantics.stops import StopSequences
from cliwrap.surfaces.openai_chat import parse_chat_request


def run(stops: tuple[str, ...], pieces: list[str]) -> tuple[str, list[Event]]:
    """The text that went out, and the other events, in order."""
    cut = StopSequences(stops)
    events = [out for piece in pieces for out in cut.feed(TextDelta(piece))]
    events += cut.feed(Usage()) + cut.feed(Finished())
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    return text, [e for e in events if not isinstance(e, TextDelta)]


ANSWER = "alpha beta <END> gamma"


def test_the_answer_ends_where_a_stop_sequence_begins_however_it_is_split() -> None:
    for cut in range(len(ANSWER) + 1):
        text, rest = run(("<END>", "zzz"), [ANSWER[:cut], ANSWER[cut:]])
        assert text == "alpha beta ", cut
        assert rest == [Finished(FinishReason.STOP, stop_sequence="<END>")], cut
    text, _ = run(("<END>",), list(ANSWER))
    assert text == "alpha beta "


def test_the_earliest_sequence_wins_and_near_misses_are_released() -> None:
    text, rest = run(("gamma", "beta"), [ANSWER])
    assert text == "alpha "
    assert rest == [Finished(FinishReason.STOP, stop_sequence="beta")]
    text, rest = run(("<ENDING>",), ["alpha <EN", "D> omega"])
    assert text == "alpha <END> omega"
    assert rest == [Usage(), Finished()]


def test_stop_must_be_strings_and_at_most_four() -> None:
    for bad in (5, ["a", ""], ["a", "b", "c", "d", "e"]):
        with pytest.raises(ApiError) as caught:
            parse_chat_request(
                {"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": bad}
            )
        assert caught.value.param == "stop"


SLOW = "[[reply:one two END three four five six seven eight nine]] [[chunk:4]] [[delay:0.4]]"
"""About 5 s of answer after the stop sequence, if the CLI were left to finish it."""
